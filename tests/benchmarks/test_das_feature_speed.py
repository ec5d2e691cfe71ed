"""DAS feature throughput: the ``torch.func`` path (vmap over samples of ``grad``) against a per-sample ``backward``
loop computing the same features, measured in the same run.

A tiny diffusers ``UNet2DModel`` (8x8x3, block_out_channels (8, 16), one attention block, 45k parameters, random
weights), batch 16 (DAS's ``03_grad.sh`` batch), the ``mean`` output at 2 uniform timesteps (0, 500) with per-t
normalisation, unprojected. The loop does one forward + backward per sample and timestep, flattens, normalises and
averages (the DAS/D-TRAK code's alternative to vmap). Asserted: the two agree to float32 rounding and vmap is at
least ``MIN_RATIO`` times faster in samples/s.
Measured on 2 shared CPU cores (2026-12-06, load average 6-8 from other jobs, so absolute rates are low): vmap 30.1
samples/s, loop 5.5 samples/s (x5.48), about 40 s in all; with 4 timesteps under heavier load 4.8 vs 0.7 samples/s
(x6.4). Single-threaded and unloaded (batch 8 and 32, 2 timesteps) the ratio was x2.5-x2.9, hence the margin.
"""
from __future__ import annotations

import pytest
import torch

from bench.methods.das.features import (
    MODEL_OUTPUTS, NORM_EPS, attribution_timesteps, per_sample_features, timestep_noise)

DEVICE = torch.device("cuda" if torch.cuda.is_available() else "cpu")
BATCH = 16
MIN_RATIO = 1.5


def _unet() -> torch.nn.Module:
    from diffusers import UNet2DModel

    torch.manual_seed(0)
    return UNet2DModel(sample_size=8, in_channels=3, out_channels=3, layers_per_block=1, block_out_channels=(8, 16),
                       down_block_types=("DownBlock2D", "AttnDownBlock2D"),
                       up_block_types=("AttnUpBlock2D", "UpBlock2D"), norm_num_groups=4,
                       attention_head_dim=8).to(DEVICE).eval()


def _loop(unet, scheduler, images, timesteps) -> torch.Tensor:
    """Per-sample features by ordinary backward calls: one forward + backward per sample and timestep."""
    params = [p for p in unet.parameters() if p.requires_grad]
    rows = []
    for i in range(len(images)):
        x0 = images[i:i + 1] * 2 - 1
        total = None
        for t in timesteps:
            noise = timestep_noise(t, torch.tensor([i]), x0.shape[1:], e_seed=0, noise_batch=16).to(DEVICE)
            tt = torch.tensor([t], device=DEVICE)
            unet.zero_grad()
            MODEL_OUTPUTS["mean"](unet(scheduler.add_noise(x0, noise, tt), tt).sample[0], noise[0]).backward()
            flat = torch.cat([p.grad.reshape(-1) for p in params])
            flat = flat / (flat.norm() + NORM_EPS)
            total = flat if total is None else total + flat
        rows.append(total / len(timesteps))
    return torch.stack(rows)


@pytest.mark.benchmark(group="das")
def test_das_vmap_features_vs_backward_loop(benchmark, interleaved):
    from diffusers import DDPMScheduler

    unet, scheduler = _unet(), DDPMScheduler(num_train_timesteps=1000, beta_schedule="linear")
    images = torch.rand((BATCH, 3, 8, 8), generator=torch.Generator().manual_seed(0)).to(DEVICE)
    timesteps = attribution_timesteps("uniform", 2)
    out = {}

    def run(name, fn):
        def work():
            out[name] = fn()
            if DEVICE.type == "cuda":
                torch.cuda.synchronize()
        return work

    best = interleaved({
        "vmap": run("vmap", lambda: per_sample_features(unet, scheduler, images, timesteps=timesteps, chunk=BATCH)),
        "loop": run("loop", lambda: _loop(unet, scheduler, images, timesteps)),
    }, rounds=3)
    torch.testing.assert_close(out["vmap"], out["loop"], atol=1e-6, rtol=1e-4)
    rates = {name: BATCH / seconds for name, seconds in best.items()}
    ratio = rates["vmap"] / rates["loop"]
    name = torch.cuda.get_device_name(DEVICE) if DEVICE.type == "cuda" else f"cpu ({torch.get_num_threads()} threads)"
    benchmark.extra_info.update(device=name, batch=BATCH, timesteps=len(timesteps), vmap_samples_per_s=rates["vmap"],
                                loop_samples_per_s=rates["loop"], vmap_over_loop=ratio)
    print(f"\nDAS features, batch {BATCH}, {len(timesteps)} timesteps on {name}: vmap {rates['vmap']:.1f} samples/s, "
          f"backward loop {rates['loop']:.1f} samples/s (x{ratio:.2f})")
    assert ratio >= MIN_RATIO
