"""The VSSD demo's summary: test accuracy on digits of a VSSD-Micro-shaped model against timm peers of about the
same size trained the same way (ConvNeXt; ViT in the full profile)."""
from __future__ import annotations

from bench.demo import DemoSummary
from bench.registry import DEMOS

PEERS = {"vssd_peer_convnext": "ConvNeXt", "vssd_peer_vit": "ViT"}
TIE = 0.01  # 5 of the 500 test images: closer than this is called on par


@DEMOS.register_module(name="vssd")
def summarize(runs: dict[str, dict]) -> DemoSummary:
    """VSSD's accuracy minus the best peer's: ahead, on par (within one point) or behind."""
    vssd = float(runs["vssd_micro_shaped"]["metrics"]["accuracy"])
    peers = {name: float(runs[stem]["metrics"]["accuracy"]) for stem, name in PEERS.items() if stem in runs}
    best_name, best = max(peers.items(), key=lambda item: item[1])
    gap = vssd - best
    if abs(gap) < TIE:
        verdict = f"on par with the best same-size peer ({best_name} {best:.1%}): the paper's ImageNet lead is not " \
                  "visible at this scale"
    elif gap > 0:
        verdict = f"{gap * 100:.1f} points ahead of the best same-size peer ({best_name} {best:.1%}), the direction " \
                  "the paper reports on ImageNet"
    else:
        verdict = f"{-gap * 100:.1f} points behind the best same-size peer ({best_name} {best:.1%}): the paper's " \
                  "ImageNet lead does not reproduce at this scale"
    return DemoSummary(headline={"VSSD accuracy": vssd, **{f"{name} accuracy": value for name, value in peers.items()}},
                       sentence=f"a 0.5M-parameter VSSD-shaped model trained from scratch on 1000 digits reaches "
                                f"{vssd:.1%} test accuracy, {verdict}")
