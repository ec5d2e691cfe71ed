"""The DiffAct method adapter: evaluate released or trained models on MS-TCN-layout videos, and train them.

Config keys mirror the official JSON configs (``encoder_params``, ``decoder_params``, ``diffusion_params``,
``sample_rate``, ``temporal_aug``, ``postprocess``, ``set_sampling_seed``); the training keys live in the config's
``train`` section (:class:`~bench.methods.diffact.training.TrainSettings`).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from bench.checkpoint import load_weights
from bench.finite import require_finite_values
from bench.method import Method, collate_ragged
from bench.methods.diffact.model import ASDiffusionModel
from bench.methods.diffact.postprocess import average_views, offset_views, postprocess
from bench.methods.diffact.sampling import ddim_sample
from bench.methods.diffact.selection import SELECTION_MODES, select_epoch
from bench.methods.diffact.training import TrainSettings, epoch_model_path, train_diffact
from bench.registry import METHODS
from bench.store import Columns

INFERENCE_MODES = ("decoder-agg", "decoder-noagg", "encoder")
RELEASED = ("trained_models/<GTEA|50salads|Breakfast>-Trained-S<k>/release.model of Finspire13/DiffAct "
            "(about 4 MB each, in the repository)")


@METHODS.register_module()
class DiffAct(Method):
    """Diffusion action segmentation (Liu et al., ICCV 2023), faithful to Finspire13/DiffAct.

    ``inference``: ``decoder-agg`` (official default: DDIM on every temporal offset, probabilities averaged),
    ``decoder-noagg`` (the middle offset only) or ``encoder`` (the encoder's own softmax). With
    ``encoder_outputs`` the encoder's prediction, which sampling computes anyway, is stored too
    (``encoder_prediction``), for the paper's decoder-vs-encoder comparison in one run.
    ``set_sampling_seed``: seed = the video's index in the test list (official); False uses the harness's
    per-sample seed instead (the official code then samples unseeded).
    ``epoch_selection``: ``{"mode": "last"}`` (the trained model's last epoch) or ``{"mode":
    "best_avg_on_test", "train_checkpoints": [each split's final checkpoint]}`` (the published protocol, see
    selection.py; in a config ``"upstream:<split>"`` of one ``checkpoint`` upstream per split).
    """

    eval_only_params = ("inference", "postprocess", "set_sampling_seed", "checkpoint", "epoch_selection",
                        "encoder_outputs", "diffusion_params.sampling_timesteps", "diffusion_params.ddim_sampling_eta")

    def __init__(self, num_classes: int, encoder_params: dict[str, Any], decoder_params: dict[str, Any],
                 diffusion_params: dict[str, Any], sample_rate: int = 1, temporal_aug: bool = True,
                 inference: str = "decoder-agg", postprocess: dict[str, Any] | None = None,
                 set_sampling_seed: bool = True, checkpoint: str | None = None,
                 epoch_selection: dict[str, Any] | None = None, encoder_outputs: bool = False) -> None:
        if inference not in INFERENCE_MODES:
            raise ValueError(f"inference {inference!r}; choose from {INFERENCE_MODES}")
        if inference == "decoder-noagg" and not temporal_aug:
            raise ValueError("inference 'decoder-noagg' picks the middle temporal offset: it needs temporal_aug=True")
        self.num_classes = num_classes
        self.params = {"encoder_params": dict(encoder_params), "decoder_params": dict(decoder_params),
                       "diffusion_params": dict(diffusion_params)}
        self.sample_rate, self.temporal_aug = int(sample_rate), bool(temporal_aug)
        self.inference = inference
        self.postprocess_cfg = dict(postprocess or {"type": None, "value": None})
        self.set_sampling_seed = set_sampling_seed
        self.checkpoint = checkpoint
        self.epoch_selection = dict(epoch_selection or {"mode": "last"})
        if self.epoch_selection.get("mode") not in SELECTION_MODES:
            raise ValueError(f"epoch_selection mode {self.epoch_selection.get('mode')!r}; choose from "
                             f"{SELECTION_MODES}")
        self.encoder_outputs = encoder_outputs
        self.model: ASDiffusionModel | None = None
        self.device = torch.device("cpu")
        self.weights: dict[str, Any] = {}
        self.selected: dict[str, Any] | None = None

    def build_model(self) -> ASDiffusionModel:
        return ASDiffusionModel(**self.params, num_classes=self.num_classes)

    # -- evaluation ------------------------------------------------------------------------------------
    def setup(self, device: torch.device, seed: int = 0) -> None:
        self.device = device
        self.model = self.build_model()
        if self.checkpoint is None:
            raise FileNotFoundError(f"DiffAct needs method.checkpoint (a released {RELEASED}) or a train section")
        if not Path(self.checkpoint).is_file():
            raise FileNotFoundError(f"DiffAct checkpoint not found: {self.checkpoint}\n  expected: {RELEASED}, "
                                    "or an epoch-<e>.model written by `bench train`")
        self.weights = load_weights(self.model, self.checkpoint)
        self.model.eval().to(device)

    def setup_untrained(self, device: torch.device, seed: int = 0) -> None:
        """The freshly initialised model (``bench validate`` on a training config: checks architecture and I/O)."""
        self.device = device
        self.model = self.build_model().eval().to(device)

    def collate(self, items: list[dict[str, Any]]) -> dict[str, Any]:
        return collate_ragged(items, ("features", "target"))

    def predict(self, batch: dict[str, Any], seeds: torch.Tensor) -> Columns:
        assert self.model is not None, "setup() was not called"
        outputs: dict[str, list[torch.Tensor]] = {"prediction": [], "target": []}
        if self.encoder_outputs:
            outputs["encoder_prediction"] = []
        names = batch.get("sample_id") or [str(int(index)) for index in batch["index"]]
        videos = zip(batch["features"], batch["target"], batch["index"], seeds, names, strict=True)
        for features, target, index, seed, name in videos:
            seed = int(index) if self.set_sampling_seed else int(seed)
            labels = self.segment_video(self.model, features, seed, video=name)
            for name, value in labels.items():
                outputs[name].append(torch.from_numpy(value))
            outputs["target"].append(torch.as_tensor(target, dtype=torch.int64))
        return outputs

    def segment_video(self, model: ASDiffusionModel, features: torch.Tensor, seed: int | None,
                      video: str = "video") -> dict[str, np.ndarray]:
        """Full-length labels of one video (``features`` [1, D, T]) by the configured inference mode; class
        probabilities holding NaN/Inf are refused (they would become labels here, where no stored column could
        show them)."""
        if features.shape[0] != 1:
            raise ValueError(f"test features must hold one spatial version, got {features.shape[0]} "
                             "(the official test asserts the same)")
        num_frames = features.shape[-1]
        views = offset_views(num_frames, self.sample_rate, self.temporal_aug)
        right_offset = (self.sample_rate - 1) // 2
        if self.inference == "decoder-noagg":
            views, right_offset = [views[len(views) // 2]], 0
        decoder_probs, encoder_probs = [], []
        for view in views:
            feats = features[:, :, view].to(self.device, non_blocking=True).float()
            if self.inference == "encoder" and not self.encoder_outputs:
                encoder_logits, probs = model.encode(feats)[0], None
            else:
                probs, encoder_logits = ddim_sample(model, feats, seed)
            encoder_probs.append(F.softmax(encoder_logits.float(), 1)[0].cpu().numpy())
            if probs is not None:
                decoder_probs.append(probs[0].float().cpu().numpy())
        main = encoder_probs if self.inference == "encoder" else decoder_probs
        for name, probs in (("probabilities", main), ("encoder probabilities", encoder_probs)):
            for view in probs:
                require_finite_values(torch.from_numpy(view), f"DiffAct {name} of {video}")
        labels = {"prediction": self._labels(main, num_frames, right_offset)}
        if self.encoder_outputs:
            labels["encoder_prediction"] = self._labels(encoder_probs, num_frames, right_offset)
        return labels

    def _labels(self, probs: list[np.ndarray], num_frames: int, right_offset: int) -> np.ndarray:
        return postprocess(average_views(probs), num_frames, self.sample_rate, right_offset,
                           self.postprocess_cfg.get("type"), self.postprocess_cfg.get("value"))

    # -- training --------------------------------------------------------------------------------------
    def fit(self, train_set: Any, val_set: Any | None, work_dir: Path, device: torch.device,
            resume: bool = True, **train_cfg: Any) -> Path:
        """Official training; with a ``val_dataset`` (the official code uses the test split) every saved epoch
        is evaluated and scored, which ``epoch_selection`` reads."""
        self._check_classes(train_set)
        settings = TrainSettings(**train_cfg)
        model = self.build_model()
        self.device = device
        evaluate = None
        if val_set is not None and settings.eval_every:
            self._check_classes(val_set)
            evaluate = self._scorer(val_set)
        return train_diffact(model, train_set, work_dir, device, settings, sample_rate=self.sample_rate,
                             temporal_aug=self.temporal_aug, resume=resume, evaluate=evaluate)

    def _scorer(self, dataset: Any) -> Any:
        from bench.metrics.action_segmentation import ActionSegmentationScores

        metric = ActionSegmentationScores(class_names=list(dataset.class_names))

        def evaluate(model: ASDiffusionModel) -> dict[str, float]:
            model.eval()
            predictions, targets = [], []
            with torch.no_grad():
                for index in range(len(dataset)):
                    item = dataset[index]
                    predictions.append(torch.from_numpy(self.segment_video(model, item["features"], index)
                                                        ["prediction"]))
                    targets.append(item["target"])
            return metric.compute({"prediction": predictions, "target": targets})

        return evaluate

    def _check_classes(self, dataset: Any) -> None:
        found = getattr(dataset, "num_classes", self.num_classes)
        if found != self.num_classes:
            raise ValueError(f"the dataset's mapping has {found} classes but method.num_classes is "
                             f"{self.num_classes}; set num_classes to the mapping's length")

    def use_checkpoint(self, path: str | Path) -> None:
        """The trained run's last epoch, or the epoch ``epoch_selection`` picks across the splits' runs."""
        if self.epoch_selection["mode"] == "last":
            self.checkpoint = str(path)
            return
        from bench.upstream import require_path

        checkpoints = list(self.epoch_selection.get("train_checkpoints") or [])
        if not checkpoints:
            raise ValueError("epoch_selection 'best_avg_on_test' needs 'train_checkpoints': every split's final "
                             "checkpoint (in a config, 'upstream:<split>' of one checkpoint upstream per split)")
        train_dirs = [Path(require_path(c, "epoch_selection.train_checkpoints")).parent for c in checkpoints]
        if Path(path).parent not in train_dirs:
            raise ValueError(f"this run's training ({Path(path).parent}) is not among the folders of "
                             f"epoch_selection.train_checkpoints ({[str(d) for d in train_dirs]})")
        epoch, averages = select_epoch(train_dirs)
        self.checkpoint = str(epoch_model_path(Path(path).parent, epoch))
        self.selected = {"mode": "best_avg_on_test", "epoch": epoch, "avg": averages[epoch],
                         "train_dirs": [str(d) for d in train_dirs], "candidates": len(averages)}

    def fitted_values(self) -> dict[str, float]:
        return {"selected_epoch": float(self.selected["epoch"])} if self.selected else {}

    def provenance(self) -> dict[str, Any]:
        return {**super().provenance(), "checkpoint": self.weights or None, "epoch_selection": self.selected
                or self.epoch_selection, "inference": self.inference, "postprocess": self.postprocess_cfg,
                "seed_rule": "video index in the test list" if self.set_sampling_seed else "harness per-sample seed"}
