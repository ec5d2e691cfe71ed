"""IDC's demo summary: IDC and a CNN of similar size, both trained on the digits, under the same FGSM and PGD.

The paper's claim is robustness: a smaller share of correctly classified images broken by an attack. The sentence
compares clean and robust accuracy with the CNN's and the attack success rates (the share of clean-correct images
an attack breaks).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from bench.demo import DemoSummary
from bench.registry import DEMOS

IDC_RUN, PEER_RUN = "idc_digits", "idc_peer_cnn"
ATTACKS = ("fgsm", "pgd")


def _compare(name: str, idc: float, cnn: float) -> str:
    return f"{name} {100 * idc:.1f}% vs {100 * cnn:.1f}%"


@DEMOS.register_module(name="idc")
def summarize(runs: dict[str, dict[str, Any]]) -> DemoSummary:
    """Headline clean and PGD robust accuracy of IDC and of the CNN; the effect counts as shown only if IDC's
    attack success rate is below the CNN's under every attack."""
    missing = [name for name in (IDC_RUN, PEER_RUN) if name not in runs]
    if missing:
        raise KeyError(f"the idc demo summary needs the runs {missing}, got {sorted(runs)}: run "
                       "`bench demo --only idc`")
    idc, cnn = runs[IDC_RUN]["metrics"], runs[PEER_RUN]["metrics"]
    success = {a: (idc[f"attack success rate ({a})"], cnn[f"attack success rate ({a})"]) for a in ATTACKS}
    smaller_share = all(i < c for i, c in success.values())
    accuracy = ", ".join([_compare("clean", idc["clean accuracy"], cnn["clean accuracy"])]
                         + [_compare(a.upper(), idc[f"robust accuracy ({a})"], cnn[f"robust accuracy ({a})"])
                            for a in ATTACKS])
    shares = ", ".join(_compare(a.upper(), *success[a]) for a in ATTACKS)
    ahead = idc["clean accuracy"] > cnn["clean accuracy"] and all(
        idc[f"robust accuracy ({a})"] > cnn[f"robust accuracy ({a})"] for a in ATTACKS)
    if smaller_share and ahead:
        verdict = "IDC is more accurate and more robust than the CNN, as the paper reports"
    elif smaller_share:
        verdict = ("IDC loses a smaller share of what it gets right, the paper's robustness effect, but the CNN stays "
                   "more accurate clean and under attack")
    else:
        verdict = "IDC does not lose a smaller share: does not reproduce the paper's effect at this scale"
    sentence = (f"IDC vs a CNN of similar size (accuracy, IDC vs CNN): {accuracy}; attack success rates {shares}: "
                f"{verdict}.")
    figures = [str(Path(run["run_dir"]) / p) for run in (runs[IDC_RUN], runs[PEER_RUN])
               for p in run.get("figures", {}).values()]
    return DemoSummary(headline={"IDC clean acc.": idc["clean accuracy"], "IDC PGD acc.": idc["robust accuracy (pgd)"],
                                 "CNN clean acc.": cnn["clean accuracy"], "CNN PGD acc.": cnn["robust accuracy (pgd)"]},
                       sentence=sentence, figures=figures)
