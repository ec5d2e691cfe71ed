"""Figures written next to a run's results (PNG, headless): reliability diagrams for calibration runs, label
barcodes for action segmentation runs."""
from __future__ import annotations

import os
from collections.abc import Sequence
from io import BytesIO
from pathlib import Path

import numpy as np
import torch

from bench.io import atomic_write_bytes
from bench.metrics.calibration import bin_index, equal_width_edges


def _keep_matplotlib_out_of_home() -> None:
    """matplotlib writes its font cache under $HOME unless MPLCONFIGDIR is set: default it into the results root."""
    if "MPLCONFIGDIR" not in os.environ:
        from bench.results import results_root

        os.environ["MPLCONFIGDIR"] = str(results_root() / ".cache" / "matplotlib")


def reliability_bins(confidence: torch.Tensor, correct: torch.Tensor, n_bins: int = 15) -> dict[str, torch.Tensor]:
    """Per-bin count, accuracy and mean confidence over the ECE's bins (lo < conf <= hi); empty bins are 0."""
    edges = equal_width_edges(n_bins)
    bins, inside = bin_index(confidence, edges)
    bins, conf, hits = bins[inside], confidence.double()[inside], correct.double()[inside]
    count = torch.bincount(bins, minlength=n_bins).double()
    return {"lower_edge": edges[:-1], "count": count,
            "accuracy": torch.bincount(bins, hits, minlength=n_bins) / count.clamp(min=1),
            "confidence": torch.bincount(bins, conf, minlength=n_bins) / count.clamp(min=1)}


def reliability_diagram(confidence: torch.Tensor, correct: torch.Tensor, path: Path, n_bins: int = 15,
                        title: str = "") -> Path:
    """Accuracy per confidence bin against the diagonal, the gap to the bin's mean confidence, and bin mass."""
    _keep_matplotlib_out_of_home()
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    b = {k: v.numpy() for k, v in reliability_bins(confidence, correct, n_bins).items()}
    filled = b["count"] > 0
    ece = float((abs(b["accuracy"] - b["confidence"]) * b["count"]).sum() / max(confidence.numel(), 1))
    width = 1.0 / n_bins
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(4.5, 5.5), sharex=True, gridspec_kw={"height_ratios": [3, 1]})
    top.bar(b["lower_edge"], b["accuracy"], width=width, align="edge", edgecolor="black", color="tab:blue",
            label="accuracy")
    top.bar(b["lower_edge"][filled], (b["confidence"] - b["accuracy"])[filled], width=width,
            bottom=b["accuracy"][filled], align="edge", edgecolor="tab:red", color="tab:red", alpha=0.3, hatch="//",
            label="gap to mean confidence")
    top.plot([0, 1], [0, 1], "k--", linewidth=1)
    top.set(ylabel="accuracy", xlim=(0, 1), ylim=(0, 1), title=title)
    top.text(0.03, 0.9, f"ECE-{n_bins} = {100 * ece:.2f}%", transform=top.transAxes)
    top.legend(loc="lower right", fontsize=8)
    bottom.bar(b["lower_edge"], b["count"] / max(confidence.numel(), 1), width=width, align="edge",
               edgecolor="black", color="gray")
    bottom.set(xlabel="confidence (top label)", ylabel="fraction of samples")
    fig.tight_layout()
    buffer = BytesIO()
    fig.savefig(buffer, format="png", dpi=110)
    plt.close(fig)
    return atomic_write_bytes(Path(path), buffer.getvalue())


def segmentation_barcode(target: Sequence[int], prediction: Sequence[int], num_classes: int, path: Path,
                         title: str = "") -> Path:
    """Ground-truth and predicted frame labels of one video as two colour bars, as DiffAct's ``plot_barcode``
    (tab10 up to 10 classes, tab20 up to 20, gist_ncar beyond); labels outside the classes (-100) are grey."""
    _keep_matplotlib_out_of_home()
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    colours = plt.cm.tab10 if num_classes <= 10 else plt.cm.tab20 if num_classes <= 20 else plt.cm.gist_ncar
    colours = colours.with_extremes(bad="lightgrey")
    fig, axes = plt.subplots(2, 1, figsize=(12, 2.6))
    for ax, name, labels in zip(axes, ("ground truth", "prediction"), (target, prediction), strict=True):
        row = np.asarray(labels.numpy() if hasattr(labels, "numpy") else labels).reshape(1, -1)
        row = np.ma.masked_where((row < 0) | (row >= num_classes), row)
        ax.imshow(row, aspect="auto", cmap=colours, interpolation="nearest", vmin=0, vmax=max(num_classes - 1, 1))
        ax.set(xticks=[], yticks=[], title=name)
        ax.set_frame_on(False)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    buffer = BytesIO()
    fig.savefig(buffer, format="png", dpi=110)
    plt.close(fig)
    return atomic_write_bytes(Path(path), buffer.getvalue())
