"""The text-to-video memorization task: the text-to-image memorization task's rows (one per prompt, detection tracks
scored by ``MemorizationDetection``) plus, on the generating rank, each generated video's content and motion
similarity to its prompt's ground-truth training videos (``gt_videos`` of the prompt set, e.g. the moving-digits
demo's planted clips, or training clips a curator attached to a prompt):

- ``content_similarity`` (generations,): GSSCD (:mod:`.content`) of the video's frames against every GT video (and
  image), max over them; frame descriptors from the ``content.extractor`` spec (SSCD for real runs);
- ``motion_similarity`` (generations,): OFS-k (:mod:`.motion`) of the video's optical flow (``motion.flow``: a
  :func:`~.flow.build_flow_estimator` spec, Farneback by default) against every GT video's, max over them;
- NaN for a prompt without GT videos (counted, not scored, by ``CopySimilarity``).

Registered here rather than in ``bench.tasks`` because the measures are this paper's re-implementation (core never
imports a paper); a config names it ``type="text_to_video_memorization"``. The videos are kept in the store unless
``keep_videos`` is False.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import torch

from bench.registry import EXTRACTORS, TASKS
from bench.store import Columns
from bench.tasks.memorization import TextToImageMemorizationTask

GT_VIDEOS_KEY = "_gt_videos"  # handed from predict to featurize on the same rank, never stored


@TASKS.register_module(name="text_to_video_memorization")
class TextToVideoMemorizationTask(TextToImageMemorizationTask):
    """Per-prompt video memorization rows (module docstring). ``content``: ``dict(extractor=<spec>,
    aggregate="max", k=4)``; ``motion``: ``dict(flow=dict(backend="farneback", ...), k=3, pairing="all",
    similarity="cosine", size=(32, 32), nmf=False, ...)`` (:class:`~.motion.OFSSettings` fields)."""

    finite_outputs = TextToImageMemorizationTask.finite_outputs + ("content_magnitude", "motion_magnitude")

    def __init__(self, metrics: list[dict[str, Any]] | None = None, content: dict[str, Any] | None = None,
                 motion: dict[str, Any] | None = None, keep_videos: bool = True, **kwargs: Any) -> None:
        from bench.methods.vdm_memorization.motion import OFSSettings

        super().__init__(metrics, **kwargs)
        self.content_spec = dict(content) if content is not None else None
        if self.content_spec is not None and "extractor" not in self.content_spec:
            raise ValueError("text_to_video_memorization: content needs extractor=<frame descriptor spec> (e.g. "
                             "dict(type='SSCDFeatures', weights=...))")
        motion = dict(motion) if motion is not None else None
        self.flow_spec = dict(motion.pop("flow", {"backend": "farneback"})) if motion is not None else None
        self.ofs_settings = OFSSettings(**motion) if motion is not None else None
        self.keep_videos = bool(keep_videos)
        self._content_extractor: Any = None
        self._flow: Any = None

    def prepare(self, device: Any) -> None:
        super().prepare(device)
        if self.content_spec is not None:
            self._content_extractor = EXTRACTORS.build(dict(self.content_spec["extractor"])).to(device)
        if self.flow_spec is not None:
            from bench.methods.vdm_memorization.flow import build_flow_estimator

            spec = dict(self.flow_spec)
            self._flow = build_flow_estimator(spec.pop("backend"), **spec)

    def predict(self, method: Any, batch: dict[str, Any], seeds: Any) -> Columns:
        outputs = super().predict(method, batch, seeds)
        if self.content_spec is not None or self.flow_spec is not None:
            outputs[GT_VIDEOS_KEY] = list(batch.get("gt_videos") or [[] for _ in batch["prompt"]])
        return outputs

    def featurize(self, outputs: Columns) -> Columns:
        gt = outputs.pop(GT_VIDEOS_KEY, None)
        features = super().featurize(outputs)
        videos = outputs.get("video")
        if videos is not None and gt is not None:
            if self._content_extractor is not None:
                features["content_similarity"] = torch.stack([
                    self._content_similarity(gens, refs) for gens, refs in zip(videos, gt, strict=True)])
            if self._flow is not None:
                features["motion_similarity"] = torch.stack([
                    self._motion_similarity(gens, refs) for gens, refs in zip(videos, gt, strict=True)])
        if videos is not None and not self.keep_videos:
            outputs.pop("video")
        return features

    def _content_similarity(self, generations: torch.Tensor, references: list[Any]) -> torch.Tensor:
        """GSSCD of each generated video (n, F, H, W, 3) against the prompt's GT videos, best over them."""
        from bench.methods.vdm_memorization.content import frame_descriptors, gsscd

        if not references:
            return torch.full((len(generations),), float("nan"), dtype=torch.float64)
        spec = self.content_spec or {}
        extractor = self._content_extractor
        generated = [frame_descriptors(extractor, torch.as_tensor(video)) for video in generations]
        refs = [frame_descriptors(extractor, torch.as_tensor(np.asarray(ref))) for ref in references]
        result = gsscd(generated, refs, aggregate=spec.get("aggregate", "max"), k=spec.get("k", 4))
        return result.gsscd.double().cpu()

    def _motion_similarity(self, generations: torch.Tensor, references: list[Any]) -> torch.Tensor:
        """OFS-k of each generated video's flow against the prompt's GT videos' flows, best over them."""
        from bench.methods.vdm_memorization.motion import ofs_matrix

        clips = [np.asarray(ref) for ref in references if np.asarray(ref).ndim == 4]  # images have no motion
        if not clips:
            return torch.full((len(generations),), float("nan"), dtype=torch.float64)
        generated = [self._flow(np.asarray(video)) for video in generations]
        scores = ofs_matrix(generated, [self._flow(clip) for clip in clips], self.ofs_settings)
        with np.errstate(all="ignore"):
            best = np.where(np.isnan(scores).all(axis=1), np.nan, np.nanmax(np.where(np.isnan(scores), -np.inf,
                                                                                     scores), axis=1))
        return torch.as_tensor(best, dtype=torch.float64)

    def describe(self) -> dict[str, Any]:
        from dataclasses import asdict

        facts = super().describe()
        if self._content_extractor is not None:
            facts["content"] = {"extractor": self._content_extractor.describe(),
                                "aggregate": (self.content_spec or {}).get("aggregate", "max")}
        if self._flow is not None and self.ofs_settings is not None:
            facts["motion"] = {"flow": self._flow.describe(), "ofs": asdict(self.ofs_settings)}
        facts["label"] = "re-implementation; thresholds not from the paper"
        return facts
