"""Model cost: parameters, FLOPs and forward throughput, measured the way the papers' repositories do.

Throughput follows the Swin/VMamba/VSSD ``main.py`` protocol: one batch, ``warmup`` forward passes, then
``iters`` timed passes (synchronised), img/s = iters * B / t, with peak accelerator memory. ``precision`` is
one of :data:`bench.precision.PRECISIONS`: "fp32" is what VSSD's paper reports (issue #14); its repository's
function runs CUDA amp, i.e. "fp16". FLOPs use torch's ``FlopCounterMode`` and are reported as multiply-adds (the unit
of fvcore's and the papers' "FLOPs"), i.e. half of torch's count. They are not fvcore's numbers: fvcore counts
a head-broadcast matmul once and adds LayerNorm/BatchNorm terms, so for VSSD our count is 3-5% above the
README's (tests/test_vssd_model.py reproduces the fvcore convention).
"""
from __future__ import annotations

import time
from typing import Any

import torch
from torch import nn

from bench.precision import autocast, check_precision

def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def count_macs(model: nn.Module, inputs: torch.Tensor) -> int:
    """Multiply-accumulates of one forward pass (torch's FlopCounterMode total / 2)."""
    from torch.utils.flop_counter import FlopCounterMode

    counter = FlopCounterMode(display=False)
    with torch.inference_mode(), counter:
        model(inputs)
    return counter.get_total_flops() // 2


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def measure_throughput(model: nn.Module, inputs: torch.Tensor, precision: str = "fp32", warmup: int = 50,
                       iters: int = 30) -> dict[str, Any]:
    """Images per second of ``model(inputs)`` in eval mode after ``warmup`` passes; peak memory on CUDA."""
    check_precision(precision)
    device = inputs.device
    model.eval()
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    with torch.inference_mode(), autocast(device, precision):
        for _ in range(warmup):
            model(inputs)
        _sync(device)
        start = time.perf_counter()
        for _ in range(iters):
            model(inputs)
        _sync(device)
        elapsed = time.perf_counter() - start
    record: dict[str, Any] = {
        "images_per_s": iters * inputs.shape[0] / elapsed, "batch_size": int(inputs.shape[0]),
        "input_shape": list(inputs.shape[1:]), "precision": precision, "warmup": warmup, "iters": iters,
        "seconds": elapsed, "device": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
        "threads": torch.get_num_threads(), "torch": torch.__version__,
    }
    if device.type == "cuda":
        record["peak_memory_mb"] = torch.cuda.max_memory_allocated(device) / 2**20
    return record


def model_cost(model: nn.Module, input_shape: tuple[int, ...], batch_size: int, device: torch.device,
               precision: str = "fp32", warmup: int = 50, iters: int = 30) -> dict[str, Any]:
    """Parameters, multiply-adds of one image and throughput at ``batch_size``, as one record."""
    model = model.eval().to(device)
    one = torch.randn(1, *input_shape, device=device)
    batch = torch.randn(batch_size, *input_shape, device=device)
    return {"params": count_parameters(model), "macs_per_image": count_macs(model, one),
            **measure_throughput(model, batch, precision, warmup, iters)}
