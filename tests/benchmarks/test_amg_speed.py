"""AMG's sampling cost against plain ancestral sampling at equal steps, measured in the same run.

The pixel branch on an ADM U-Net shaped like improved-diffusion's CIFAR-10 model but small (32x32x3, 64 channels,
random weights; on CUDA the real 52.5M-parameter cifar10_uncond_50M_500K.pt architecture, random weights) over 50
respaced steps of the cosine process, batch 4, against a pool of 10,000 random training images (CIFAR-10's is
50,000 before deduplication): plain sampling vs AMG with guidance at every step (``schedule="none"``: a nearest-
neighbour search over the pool and an nL2 gradient per sample and step, the worst case) vs AMG on the dynamic
schedule (checks and guides only where a sample came close; with random weights and a random pool nothing comes
close, so it pays only the trigger check at every step). Asserted: guidance at every step costs at most
``MAX_EVERYWHERE`` times plain sampling, and the dynamic schedule, which guides at a share s of steps, at most
plain + (everywhere - plain) (1 + s) + 10% noise margin (its per-step trigger check is the same search).
Measured on 2 CPU cores (2026-12-06): plain 3.02 s, guidance everywhere 6.44 s (x2.13), dynamic 6.34 s (x2.10, 0%
of steps guided: the trigger check's search is the cost); about 75 s in all.
"""
from __future__ import annotations

import pytest
import torch

from bench.methods.amg.guidance import ThresholdSchedule
from bench.methods.amg.pixel_sampler import PixelGuidanceSettings, sample_pixel_amg
from bench.methods.diffusion.adm import build_adm
from bench.methods.diffusion.gaussian import RespacedDiffusion
from bench.seeding import step_noise

DEVICE = torch.device("cuda" if torch.cuda.is_available() else "cpu")
MAX_EVERYWHERE = 3.0
POOL = 10_000


def _unet() -> torch.nn.Module:
    torch.manual_seed(0)
    if DEVICE.type == "cuda":
        from bench.methods.diffusion.adm import ADM_PRESETS

        return build_adm(ADM_PRESETS["cifar10_uncond_50M_500K.pt"]["flags"]).to(DEVICE).eval()
    return build_adm(dict(kind="diffusion", image_size=32, in_channels=3, model_channels=64, out_channels=6,
                          num_res_blocks=1, attention_resolutions=(2,), channel_mult=(1, 2, 2), num_heads=4,
                          use_scale_shift_norm=True)).eval()


@pytest.mark.benchmark(group="amg")
def test_amg_sampling_cost_vs_plain(benchmark, interleaved):
    unet, batch = _unet(), 4
    process = RespacedDiffusion.from_schedule("cosine", 4000, "50")
    pool = torch.rand((POOL, 3, 32, 32), generator=torch.Generator().manual_seed(1), device="cpu").to(DEVICE) * 2 - 1
    noise = step_noise([torch.Generator().manual_seed(i) for i in range(batch)], torch.empty(batch, 3, 32, 32,
                                                                                              device=DEVICE))
    timestep_scale = 1000.0 / 4000

    def denoise(x: torch.Tensor, t: torch.Tensor, y: torch.Tensor | None) -> torch.Tensor:
        return unet(x, t.float() * timestep_scale)

    logs = {}

    def run(name, settings):
        def work():
            gens = [torch.Generator().manual_seed(i) for i in range(batch)]
            with torch.inference_mode():
                result = sample_pixel_amg(process, denoise, noise, None, gens, settings,
                                          pool if settings else None)
            if DEVICE.type == "cuda":
                torch.cuda.synchronize()
            logs[name] = result
        return work

    everywhere = PixelGuidanceSettings(schedule=ThresholdSchedule("none", a=1.95, b=1.5, c=0.025, above=False))
    dynamic = PixelGuidanceSettings()
    best = interleaved({"plain": run("plain", None), "everywhere": run("everywhere", everywhere),
                        "dynamic": run("dynamic", dynamic)}, rounds=3)
    steps = process.num_timesteps
    share = float(logs["dynamic"].guided_steps.double().mean()) / steps
    name = torch.cuda.get_device_name(DEVICE) if DEVICE.type == "cuda" else "cpu"
    ratio_everywhere, ratio_dynamic = best["everywhere"] / best["plain"], best["dynamic"] / best["plain"]
    benchmark.extra_info.update(device=name, pool=POOL, batch=batch, steps=steps, plain_s=best["plain"],
                                everywhere_s=best["everywhere"], dynamic_s=best["dynamic"],
                                everywhere_over_plain=ratio_everywhere, dynamic_over_plain=ratio_dynamic,
                                dynamic_share_guided=share)
    print(f"\nAMG pixel branch, {steps} steps, batch {batch}, pool {POOL} on {name}: plain {best['plain']:.2f} s, "
          f"guidance everywhere {best['everywhere']:.2f} s (x{ratio_everywhere:.2f}), dynamic "
          f"{best['dynamic']:.2f} s (x{ratio_dynamic:.2f}, {100 * share:.0f}% of steps guided)")
    assert float(logs["everywhere"].guided_steps.double().mean()) == steps
    assert ratio_everywhere <= MAX_EVERYWHERE
    extra = best["everywhere"] - best["plain"]
    assert best["dynamic"] <= (best["plain"] + extra * (1 + share)) * 1.1
