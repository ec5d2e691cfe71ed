"""The text-to-video generation task: prompts in, videos out, each video scored per dimension on the generating rank
(VBench's subject consistency, motion smoothness, aesthetic and imaging quality, or any ``VIDEO_SCORERS`` entry),
MP4s exported with VBench's ``custom_input`` naming.

The dataset's items carry ``prompt`` (str) and may carry ``video_index`` (the sample number of that prompt, VBench's
5 videos per prompt; ``bench.datasets.vbench.VBenchPrompts`` gives both). The batch goes to the method's ``predict``
as the other text-conditioned tasks hand it (``batch["prompt"]`` a list of str); the method returns ``video`` uint8
[B, F, H, W, 3] (torch or numpy) and may return ``nfe`` (int per video) and ``wall_s`` (float per video).

Stored per video: ``prompt``, ``video_index`` (when the dataset gives it), one float64 column per dimension named
as in ``dimensions`` (e.g. ``subject_consistency``), ``nfe`` / ``wall_s`` as the method gave them, and the frames
unless ``keep_videos=False`` (800 prompts x 5 videos x 16 frames at 512² are ~50 GB). ``bench score`` recomputes
the metrics from those columns without any model. The runner's dataset ``index`` is not VBench's index: the
sample number is ``video_index``.

Scores are of the frames as generated, before MP4 encoding; VBench scores the decoded files, so its numbers on the
exported (lossy) MP4s can differ slightly. The export makes that check possible with the official code. Scores also
vary with the GPU (Vchitect/VBench issue #176): :meth:`VideoGenerationTask.describe` records torch, the device and
the GPU model with the scorers' weights.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from bench.registry import TASKS, VIDEO_SCORERS
from bench.store import Columns, SampleStore, as_outputs
from bench.tasks.base import EvalTask

#: VBench's four dimensions of the ConFiner paper, by column name
VBENCH_DIMENSIONS: dict[str, dict[str, Any]] = {
    "subject_consistency": {"type": "SubjectConsistency"},
    "motion_smoothness": {"type": "MotionSmoothness"},
    "aesthetic_quality": {"type": "AestheticQuality"},
    "imaging_quality": {"type": "ImagingQuality"},
}
ON_UNAVAILABLE = ("error", "skip")


def vbench_video_name(prompt: str, index: int) -> str:
    """VBench's file name of a prompt's ``index``-th video: ``{prompt}-{index}.mp4`` (``prompts/README.md``); VBench
    reads the prompt back from the name in ``custom_input`` mode, so a prompt holding ``/`` cannot be named."""
    if "/" in prompt or "\0" in prompt:
        raise ValueError(f"prompt {prompt!r} holds '/' or NUL: VBench's file name {{prompt}}-{{index}}.mp4 cannot "
                         "carry it; rephrase the prompt or export without VBench naming")
    if isinstance(index, bool) or not isinstance(index, int) or index < 0:
        raise ValueError(f"a video index must be a non-negative int, got {index!r}")
    return f"{prompt}-{index}.mp4"


def as_video_batch(value: Any, who: str) -> torch.Tensor:
    """A method's ``video`` output as a CPU uint8 tensor [B, F, H, W, 3]."""
    tensor = value if isinstance(value, torch.Tensor) else torch.from_numpy(np.asarray(value))
    if tensor.dtype != torch.uint8 or tensor.ndim != 5 or tensor.shape[-1] != 3:
        raise ValueError(f"{who}: the method's 'video' output must be RGB uint8 [B, F, H, W, 3], got {tensor.dtype} "
                         f"{tuple(tensor.shape)}")
    return tensor.detach().cpu()


@TASKS.register_module(name="video_generation")
class VideoGenerationTask(EvalTask):
    """Text-to-video generation scored per video (module docstring).

    Args:
        dimensions: ``{column: VIDEO_SCORERS spec}``; None: VBench's four (:data:`VBENCH_DIMENSIONS`), weights from
            VBench's cache folder.
        metrics: metric specs; default ``VideoDimensions`` over the dimension columns and ``VideoGenerationCost``.
        keep_videos: store the frames (needed for the MP4 export and the figure).
        export: ``"mp4"`` writes ``videos/{prompt}-{index}.mp4`` (VBench's ``custom_input`` naming) from the stored
            frames at every score; None writes nothing.
        fps: frame rate of the exported MP4s (VBench's sampling example writes 8).
        on_unavailable: a scorer whose network code is missing (``ScorerUnavailableError``): ``"error"`` stops the
            run; ``"skip"`` leaves its column out and reports the dimension as not configured.
        grid_videos: videos in the figure (their frames side by side, one row each).
    """

    required_outputs = ("video",)
    scored_outputs = ()  # metrics read the dimension columns

    def __init__(self, dimensions: dict[str, dict[str, Any]] | None = None,
                 metrics: list[dict[str, Any]] | None = None, keep_videos: bool = True, export: str | None = "mp4",
                 fps: float = 8.0, on_unavailable: str = "error", grid_videos: int = 4) -> None:
        specs = dict(VBENCH_DIMENSIONS if dimensions is None else dimensions)
        bad = [name for name, spec in specs.items()
               if not isinstance(name, str) or not name or not isinstance(spec, dict) or "type" not in spec]
        if bad or not specs:
            raise ValueError(f"video_generation: dimensions must map column names to VIDEO_SCORERS specs with a 'type' "
                             f"(e.g. dict(subject_consistency=dict(type='SubjectConsistency'))), got {dimensions!r}")
        clash = sorted(set(specs) & {"video", "prompt", "video_index", "nfe", "wall_s", "index", "sample_id", "seed"})
        if clash:
            raise ValueError(f"video_generation: dimension name(s) {clash} clash with stored columns; rename them")
        if export not in ("mp4", None):
            raise ValueError(f"video_generation: export must be 'mp4' or None, got {export!r}")
        if on_unavailable not in ON_UNAVAILABLE:
            raise ValueError(f"video_generation: on_unavailable must be one of {ON_UNAVAILABLE}, got "
                             f"{on_unavailable!r}")
        if not (isinstance(fps, (int, float)) and not isinstance(fps, bool) and fps > 0):
            raise ValueError(f"video_generation: fps must be a positive number, got {fps!r}")
        if metrics is None:
            metrics = [{"type": "VideoDimensions", "dimensions": list(specs)}, {"type": "VideoGenerationCost"}]
        super().__init__(metrics)
        self.dimension_specs = specs
        self.keep_videos, self.export, self.fps = bool(keep_videos), export, float(fps)
        self.on_unavailable, self.grid_videos = on_unavailable, int(grid_videos)
        self.finite_outputs = tuple(specs) + ("wall_s",)
        self.scorers: dict[str, Any] = {}
        self.not_configured: dict[str, str] = {}
        self.environment: dict[str, Any] = {}
        self.device: Any = "cpu"

    def prepare(self, device: Any) -> None:
        """Build every dimension's scorer on ``device`` (weights from local files) and record the environment."""
        from bench.tasks.generation.video_scorers.base import ScorerUnavailableError

        self.device = torch.device(device)
        for name, spec in self.dimension_specs.items():
            if name in self.scorers or name in self.not_configured:
                continue
            try:
                self.scorers[name] = VIDEO_SCORERS.build(dict(spec)).to(self.device)
            except ScorerUnavailableError as error:
                if self.on_unavailable == "error":
                    raise ScorerUnavailableError(f"video_generation dimension {name!r}: {error} (set task."
                                                 "on_unavailable='skip' to report it as not configured)") from error
                self.not_configured[name] = str(error)
        self.environment = environment_facts(self.device)

    def predict(self, method: Any, batch: dict[str, Any], seeds: Any) -> Columns:
        outputs = method.predict(batch, seeds)
        if "video" in outputs:
            outputs["video"] = as_video_batch(outputs["video"], type(method).__name__)
        if "prompt" not in outputs and "prompt" in batch:
            outputs["prompt"] = list(batch["prompt"])
        if "video_index" in batch and "video_index" not in outputs:
            outputs["video_index"] = torch.as_tensor(batch["video_index"]).long()
        for name, dtype in (("nfe", torch.int64), ("wall_s", torch.float64)):
            if name in outputs:
                outputs[name] = torch.as_tensor(np.asarray(outputs[name])).to(dtype)
        return outputs

    def featurize(self, outputs: Columns) -> Columns:
        """One float64 column per configured dimension; drops the frames when they are not kept (after scoring)."""
        if "video" not in outputs:
            return {}
        if not self.scorers and not self.not_configured:
            self.prepare(self.device)
        videos = as_video_batch(outputs["video"], "video_generation")
        features = {name: scorer.score_batch(videos).double() for name, scorer in self.scorers.items()}
        if not self.keep_videos:
            outputs.pop("video")
        return features

    def describe(self) -> dict[str, Any]:
        """Each dimension's scorer facts (network, weights and sha256, protocol), the dimensions not configured and
        why, and the environment (scores vary across GPUs). A rescore without the models reports the specs."""
        dimensions: dict[str, Any] = {}
        for name, spec in self.dimension_specs.items():
            if name in self.scorers:
                dimensions[name] = self.scorers[name].describe()
            elif name in self.not_configured:
                dimensions[name] = {"status": "not configured", "reason": self.not_configured[name], "spec": spec}
            else:
                dimensions[name] = {"spec": spec, "status": "scored in an earlier process (rescored from stored "
                                                            "columns)"}
        environment = self.environment or "not scored in this process (the generating run's provenance.json records " \
                                          "its device)"
        return {"dimensions": dimensions, "environment": environment,
                "scored_frames": "as generated (uint8 frames before MP4 encoding)"}

    def write_exports(self, outputs: Columns | SampleStore, run_dir: Path) -> dict[str, Path]:
        """``videos/{prompt}-{index}.mp4`` from the stored frames, a block at a time (files already there are kept:
        a video is fixed by its sample id and seed). Without a ``video_index`` column a prompt's videos are
        numbered 0, 1, ... in dataset order."""
        source = as_outputs(outputs)
        stored = set(source.stored_columns() if isinstance(source, SampleStore) else source.load())
        if self.export != "mp4" or not {"video", "prompt"} <= stored:
            return {}
        from bench.tasks.generation.exports import write_mp4

        folder = run_dir / "videos"
        counts: dict[str, int] = {}
        columns = ["video", "prompt"] + (["video_index"] if "video_index" in stored else [])
        for block in source.iter_chunks(columns):
            for row, (prompt, video) in enumerate(zip(block["prompt"], block["video"], strict=True)):
                if "video_index" in block:
                    index = int(block["video_index"][row])
                else:
                    index = counts.get(prompt, 0)
                    counts[prompt] = index + 1
                path = folder / vbench_video_name(str(prompt), index)
                if not path.is_file():
                    write_mp4(path, video, self.fps)
        return {"videos": folder}

    def write_figures(self, outputs: Columns | SampleStore, directory: Path, title: str = "") -> dict[str, Path]:
        """The first ``grid_videos`` videos, one row of (up to 8, evenly spaced) frames each."""
        source = as_outputs(outputs)
        stored = set(source.stored_columns() if isinstance(source, SampleStore) else source.load())
        if "video" not in stored or self.grid_videos <= 0:
            return {}
        from bench.tasks.generation.exports import sample_grid

        videos = torch.as_tensor(next(source.iter_chunks(["video"], rows=self.grid_videos))["video"])
        frames = videos.shape[1]
        picks = torch.linspace(0, frames - 1, min(frames, 8)).round().long()
        tiles = videos[:, picks].reshape(-1, *videos.shape[2:])
        return {"videos": sample_grid(tiles, directory / "videos.png", nrow=len(picks))}


def environment_facts(device: torch.device) -> dict[str, Any]:
    """torch and the device the scorers ran on (provenance's :func:`~bench.provenance.device_info`: CUDA, GPU model),
    beside the scores because VBench's scores vary across GPU types."""
    from bench.provenance import device_info

    return {"torch": torch.__version__, **device_info(device)}
