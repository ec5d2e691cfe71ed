"""The FusionSAM demo summary: its sentence follows the numbers (bench.methods.fusionsam.demo)."""
import pytest

from bench.methods.fusionsam.demo import MARGIN, summarize


def run(miou: float, cool: float, warm: float, smoke: bool = True) -> dict:
    metrics = {"mIoU": miou, "IoU.background": 0.9, "IoU.cool1": cool, "IoU.cool3": cool, "IoU.warm2": warm,
               "IoU.warm4": warm, "aAcc": 0.9}
    return {"metrics": metrics, "smoke": smoke, "run_dir": "x"}


def runs(fused: float, rgb: float = 0.48, thermal: float = 0.53, **extra) -> dict:
    out = {"fusionsam_fused": run(fused, 0.7, 0.35), "fusionsam_rgb": run(rgb, 0.74, 0.0),
           "fusionsam_thermal": run(thermal, 0.0, 0.86)}
    out.update({f"fusionsam_{k}": run(v, 0.7, 0.3) for k, v in extra.items()})
    return out


def test_gain_beyond_the_margin_is_called_help():
    summary = summarize(runs(0.62))
    assert "fusion helps: +0.09 over the better single modality (thermal only)" in summary.sentence
    assert "RGB only 0.48 (cool 0.74, warm 0.00)" in summary.sentence
    assert "a check of the mechanism" in summary.sentence
    assert summary.headline == {"mIoU fused + adapter": 0.62, "mIoU RGB only": 0.48, "mIoU thermal only": 0.53}


@pytest.mark.parametrize("fused, phrase", [(0.53 + MARGIN / 2, "within the ±0.03 allowance"),
                                           (0.40, "fusion does not help here: -0.13 against thermal only")])
def test_small_or_negative_gaps_are_not_called_help(fused, phrase):
    assert phrase in summarize(runs(fused)).sentence


def test_full_profile_adds_the_no_adapter_ablation_and_missing_runs_are_named():
    summary = summarize(runs(0.7, no_adapter=0.66))
    assert summary.headline["mIoU fused, no adapter"] == 0.66 and "fused, no adapter 0.66" in summary.sentence
    partial = runs(0.6)
    del partial["fusionsam_thermal"]
    with pytest.raises(ValueError, match=r"runs \['fusionsam_thermal'\] are missing.*bench demo --only fusionsam"):
        summarize(partial)
    partial = runs(0.6)
    partial["fusionsam_rgb"]["metrics"] = {}
    with pytest.raises(ValueError, match="run 'fusionsam_rgb' has no mIoU"):
        summarize(partial)
