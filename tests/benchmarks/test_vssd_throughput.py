"""VSSD speed, as ratios against peers measured in the same run (fastest of interleaved rounds, CPU).

- Forward throughput at 224^2: VSSD-Tiny against timm's swin_tiny_patch4_window7_224 and convnext_tiny (all
  about 4.5 GMACs). Recorded, with a sanity floor only: the paper's throughput table is unknown.
- The NC-SSD mixer in its linear form against the same computation written as quadratic attention
  (Y = (C B^T * m) X + D X) at 56x56 = 3136 tokens, VSSD-Tiny stage-1 sizes. Target: the linear form wins.
A GPU run (FP32 and AMP, batch 128) uses `bench cost`; see the closing note of the VSSD issue.
"""
from __future__ import annotations

import pytest
import timm
import torch

from bench.methods.vssd.model import nc_ssd
from bench.throughput import count_parameters

BATCH = 4


def nc_ssd_quadratic(x: torch.Tensor, B: torch.Tensor, C: torch.Tensor, weight: torch.Tensor,
                     D: torch.Tensor) -> torch.Tensor:
    """The same output through the L x L token-mixing matrix, as attention without softmax would compute it."""
    mixing = torch.einsum("bin,bjn->bij", C, B)  # (batch, L, L), shared by the heads
    return torch.einsum("bij,bjhp->bihp", mixing, x * weight.unsqueeze(-1)) + x * D[:, None]


@pytest.mark.benchmark(group="vssd")
def test_vssd_tiny_forward_vs_swin_and_convnext(benchmark, interleaved):
    images = torch.randn(BATCH, 3, 224, 224)
    models = {name: timm.create_model(name).eval() for name in
              ("vssd_tiny", "swin_tiny_patch4_window7_224", "convnext_tiny")}

    def forward(model: torch.nn.Module):
        def run() -> None:
            with torch.inference_mode():
                model(images)
        return run

    best = interleaved({name: forward(model) for name, model in models.items()})
    images_per_s = {name: BATCH / seconds for name, seconds in best.items()}
    ratios = {name: images_per_s["vssd_tiny"] / images_per_s[name] for name in models if name != "vssd_tiny"}
    benchmark.extra_info.update(batch=BATCH, images_per_s=images_per_s, vssd_tiny_over=ratios,
                                params={name: count_parameters(m) for name, m in models.items()},
                                threads=torch.get_num_threads(), device="cpu")
    print("\nCPU img/s at 224^2, batch", BATCH, {k: round(v, 2) for k, v in images_per_s.items()},
          "VSSD-Tiny ratio", {k: round(v, 3) for k, v in ratios.items()})
    assert all(ratio > 0.2 for ratio in ratios.values())


@pytest.mark.benchmark(group="vssd")
def test_nc_ssd_linear_form_beats_quadratic_attention_at_56x56(benchmark, interleaved):
    gen = torch.Generator().manual_seed(0)
    batch, tokens, heads, headdim, d_state = 2, 56 * 56, 2, 64, 64  # VSSD-Tiny stage 1: d_inner 128, 2 heads
    x = torch.randn(batch, tokens, heads, headdim, generator=gen)
    B, C = torch.randn(batch, tokens, d_state, generator=gen), torch.randn(batch, tokens, d_state, generator=gen)
    weight, D = torch.rand(batch, tokens, heads, generator=gen), torch.rand(heads, generator=gen)
    assert torch.allclose(nc_ssd(x, B, C, weight, D), nc_ssd_quadratic(x, B, C, weight, D), rtol=1e-3, atol=1e-2)
    best = interleaved({"linear": lambda: nc_ssd(x, B, C, weight, D),
                        "quadratic": lambda: nc_ssd_quadratic(x, B, C, weight, D)})
    ratio = best["quadratic"] / best["linear"]
    benchmark.extra_info.update(tokens=tokens, linear_s=best["linear"], quadratic_s=best["quadratic"], ratio=ratio)
    print(f"\nNC-SSD at {tokens} tokens: linear {best['linear'] * 1e3:.1f} ms, quadratic "
          f"{best['quadratic'] * 1e3:.1f} ms, ratio {ratio:.1f}x")
    assert ratio > 1.0
