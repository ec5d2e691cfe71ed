"""FusionSAM per-image inference time, fused (VQ latents of both modalities, the fusion network, the fused image,
the adapter) against SAM on RGB only, with the same tiny models (the demo's: tiny SAM, small VQ models and fusion
network, untrained: weights do not change the time) on a 32x32 pair, on the CPU.

The fused path runs the RGB path's SAM plus its own parts, so its time is bounded by the sum of the RGB-only time
and the parts', each timed alone in the same interleaved rounds; the assertion allows 50% over that sum (dispatch
overhead of the extra modules, a loaded machine) and requires the fused path to cost more than SAM alone. The ratio
fused / RGB-only is recorded in ``extra_info``.
"""
from __future__ import annotations

import pytest
import torch

from bench.config import load_config, to_plain
from bench.methods.fusionsam.adapter import FusionSAM
from bench.methods.fusionsam.fusion import fused_image

pytest.importorskip("segment_anything")
pytest.importorskip("diffusers")

SLACK = 1.5


def demo_method(view: str) -> FusionSAM:
    cfg = to_plain(load_config(f"demo/fusionsam_{view}").method)
    cfg.pop("type")
    torch.manual_seed(0)
    method = FusionSAM(**cfg)
    method.setup_untrained(torch.device("cpu"))
    return method


@pytest.mark.benchmark(group="fusionsam")
def test_fused_inference_costs_sam_plus_its_parts(interleaved, benchmark):
    torch.set_num_threads(1)
    fused, rgb = demo_method("fused"), demo_method("rgb")
    rgb.model.load_state_dict(fused.model.state_dict(), strict=False)  # the same SAM (rgb has no adapter)
    g = torch.Generator().manual_seed(0)
    visible = torch.randint(0, 256, (3, 32, 32), generator=g, dtype=torch.uint8)
    thermal = torch.randint(0, 256, (1, 32, 32), generator=g, dtype=torch.uint8)
    v, t = visible[None].float(), thermal[None].float()
    latents = fused.latents(v, t)

    def fusion_parts() -> None:
        with torch.no_grad():
            features = fused.fusion.fused_features(*latents)
            fused_image(fused.fusion.to_luminance(features).clamp(0, 1), v)
            torch.cat([*latents, features], dim=1)

    times = interleaved({
        "rgb": lambda: rgb.segment(visible, thermal, (32, 32)),
        "fused": lambda: fused.segment(visible, thermal, (32, 32)),
        "latents": lambda: fused.latents(v, t),
        "fusion": fusion_parts,
    }, rounds=6)
    ratio = times["fused"] / times["rgb"]
    bound = (times["rgb"] + times["latents"] + times["fusion"]) / times["rgb"] * SLACK
    benchmark.extra_info.update({f"{name}_ms": 1000 * value for name, value in times.items()})
    benchmark.extra_info.update(ratio=ratio, bound=bound, threads=1)
    print(f"\nper image: RGB-only {1000 * times['rgb']:.1f} ms, fused {1000 * times['fused']:.1f} ms "
          f"(latents {1000 * times['latents']:.1f}, fusion + image + adapter input {1000 * times['fusion']:.1f}); "
          f"ratio {ratio:.2f}, bound {bound:.2f}")
    assert 1.0 < ratio <= bound
