"""Trident per-image latency by stage (the ``trident.*`` profiler ranges).

The benchmark times whole predictions; one profiled prediction gives each stage's share, recorded in
``extra_info`` with the device. Target: the stages account for at least 80% of the profiled prediction, so the
breakdown explains where the time goes. Two shapes: the demo's tiny models on a small scene, and the VOC21
config's real shapes (CLIP ViT-B/16, DINO ViT-B/16, SAM ViT-B; short side 448, windows 336/224) with random
weights on a VOC-sized 375x500 image, on the GPU when there is one (float16, as the official code) and on the
CPU otherwise (float32).
"""
from __future__ import annotations

import time

import pytest
import torch
from torch.profiler import ProfilerActivity, profile

from bench.config import load_config, to_plain
from bench.datasets.segmentation import GeneratedScenes
from bench.methods.trident.adapter import TridentSegmentor

pytest.importorskip("open_clip")
pytest.importorskip("segment_anything")

DEVICE = torch.device("cuda" if torch.cuda.is_available() else "cpu")
STAGES = {"trident.windows", "trident.dino", "trident.clip", "trident.splice", "trident.sam_encoder",
          "trident.aggregate", "trident.classify", "trident.refine"}


def record_stage_breakdown(benchmark, method: TridentSegmentor, image: torch.Tensor, rounds: int,
                           device: torch.device) -> dict[str, float]:
    """Time ``rounds`` predictions on ``device`` after a warm-up, then profile one; returns its stage seconds."""
    cuda = device.type == "cuda"

    def predict() -> None:
        method.predict_one(image)
        if cuda:
            torch.cuda.synchronize(device)

    with torch.inference_mode():
        predict()  # warm-up
        benchmark.pedantic(predict, rounds=rounds, warmup_rounds=0)
        with profile(activities=[ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if cuda else [])) as prof:
            start = time.perf_counter()
            predict()
            profiled_total = time.perf_counter() - start
    # A range's CPU time is its host time; on CUDA the host only launches most kernels, so a stage counts the
    # larger of its host time and the GPU time of the kernels launched inside it (an approximation: stages
    # overlap where the GPU runs behind), and the coverage target is checked on the CPU only.
    stages = {e.key: max(e.cpu_time_total, e.device_time_total if cuda else 0.0) / 1e6
              for e in prof.key_averages() if e.key.startswith("trident.")}
    benchmark.extra_info["device"] = torch.cuda.get_device_name(device) if cuda else "cpu"
    benchmark.extra_info["image_size"] = list(image.shape[1:])
    benchmark.extra_info["stage_seconds_profiled"] = stages
    benchmark.extra_info["stage_share"] = {k: v / profiled_total for k, v in stages.items()}
    assert STAGES <= set(stages)
    if not cuda:
        assert sum(stages.values()) >= 0.8 * profiled_total
    return stages


@pytest.mark.benchmark(group="trident")
def test_trident_stage_breakdown_covers_the_prediction(benchmark):
    cfg = to_plain(load_config("demo/trident_generated_scenes").method)
    cfg.pop("type")
    method = TridentSegmentor(**cfg)
    method.setup(torch.device("cpu"))
    image = GeneratedScenes(num_images=1, size=(128, 192), num_classes=3)[0]["image"]
    record_stage_breakdown(benchmark, method, image, rounds=3, device=torch.device("cpu"))


@pytest.mark.benchmark(group="trident-real-shapes")
def test_trident_real_shapes_stage_breakdown(benchmark):
    """The VOC21 config with full-size random-weight models. Three prompt classes keep the one-off text encoding
    short on a CPU (each class costs 80 template encodings); the per-image stages barely depend on it."""
    cfg = to_plain(load_config("trident/voc21").method)
    cfg.pop("type")
    for model in ("clip", "dino", "sam"):
        cfg[model]["random_weights"] = True
    cfg["class_names"] = {"classes": ["background", "red box", "blue box"]}
    cfg["precision"] = "fp16" if DEVICE.type == "cuda" else "fp32"
    method = TridentSegmentor(**cfg)
    method.setup(DEVICE)
    image = GeneratedScenes(num_images=1, size=(375, 500), num_classes=3)[0]["image"]
    record_stage_breakdown(benchmark, method, image, rounds=3 if DEVICE.type == "cuda" else 1, device=DEVICE)
    if DEVICE.type == "cuda":
        benchmark.extra_info["peak_memory_gib"] = torch.cuda.max_memory_allocated(DEVICE) / 2**30
