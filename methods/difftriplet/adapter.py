"""The DiffTriplet method adapter: a DiffAct-style diffusion model over per-frame [ivt | i | v | t] multi-label
vectors with association guidance, on pre-extracted features or on features of a per-fold frame backbone.

Config keys follow the DiffTriplet-Anticipation derivative's JSON (``encoder_params``, ``decoder_params``,
``diffusion_params``, ``causal``) plus ``guidance`` (λ and its component terms) and ``backbone`` (the per-fold
feature stage, ``features.BackboneSettings``); training keys live in the ``train`` section
(``training.TripletTrainSettings``).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from bench.checkpoint import load_weights
from bench.datasets.cholec_triplet import JOINT_CHANNELS, JOINT_SLICES
from bench.formats.cholec import official_mapping, read_mapping
from bench.io import atomic_write_json, read_json
from bench.method import Method, collate_ragged
from bench.methods.diffact.model import ASDiffusionModel
from bench.methods.diffact.sampling import ddim_sample
from bench.methods.difftriplet.association import GUIDANCE_COMPONENTS, AssociationGuidance
from bench.methods.difftriplet.features import BackboneSettings, FeatureCache, FrameBackbone, FrameLabels
from bench.methods.difftriplet.training import TRIPLET_COND_TYPES, TripletTrainSettings, train_difftriplet
from bench.registry import METHODS
from bench.store import Columns

INFERENCE_MODES = ("decoder", "encoder", "ensemble")
BACKBONE_DIR = "backbone"


@METHODS.register_module()
class DiffTriplet(Method):
    """Surgical triplet recognition via diffusion (Liu et al., arXiv 2406.13210), re-implemented from the paper's
    description and the DiffTriplet-Anticipation derivative (no official code).

    ``inference``: ``decoder`` (DDIM with association guidance at every step), ``encoder`` (the encoder's sigmoid)
    or ``ensemble`` (their mean, the derivative's ``ensemble-agg``). ``guidance``: ``{"scale": λ, "components":
    ["i", "v", "t"]}`` (λ = 0 switches it off; ``["i"]`` is the derivative's instrument-only variant).
    ``compare_unguided`` also samples without guidance (same seeds) into ``unguided_triplet_scores``;
    ``encoder_outputs`` stores the encoder's scores as ``encoder_triplet_scores``. ``mapping_file``: the
    dataset's ``dict/maps.txt`` / ``label_mapping.txt``; None uses the official map as ivtmetrics ships it.
    ``backbone``: train a timm frame backbone on the fold's training videos in ``fit`` and use its features
    (items then need ``frames``); None reads the dataset's ``features``.
    """

    eval_only_params = ("inference", "guidance", "mapping_file", "set_sampling_seed", "checkpoint", "compare_unguided",
                        "encoder_outputs", "diffusion_params.sampling_timesteps", "diffusion_params.ddim_sampling_eta")

    def __init__(self, encoder_params: dict[str, Any], decoder_params: dict[str, Any],
                 diffusion_params: dict[str, Any], causal: bool = False, guidance: dict[str, Any] | None = None,
                 inference: str = "decoder", mapping_file: str | None = None, set_sampling_seed: bool = True,
                 checkpoint: str | None = None, compare_unguided: bool = False, encoder_outputs: bool = False,
                 backbone: dict[str, Any] | None = None) -> None:
        if inference not in INFERENCE_MODES:
            raise ValueError(f"inference {inference!r}; choose from {INFERENCE_MODES}")
        bad = [c for c in diffusion_params.get("cond_types", ["full"]) if c not in TRIPLET_COND_TYPES]
        if bad:
            raise ValueError(f"cond_types {bad}: DiffTriplet trains with {TRIPLET_COND_TYPES} only")
        self.params = {"encoder_params": dict(encoder_params), "decoder_params": dict(decoder_params),
                       "diffusion_params": dict(diffusion_params)}
        self.causal, self.inference = bool(causal), inference
        self.guidance_cfg = {"scale": 1.0, "components": list(GUIDANCE_COMPONENTS), **(guidance or {})}
        self.mapping_file = mapping_file
        self.set_sampling_seed = set_sampling_seed
        self.checkpoint = checkpoint
        self.compare_unguided, self.encoder_outputs = compare_unguided, encoder_outputs
        self.backbone_settings = BackboneSettings(**backbone) if backbone else None
        self.guide: AssociationGuidance | None = None
        self.model: ASDiffusionModel | None = None
        self.backbone: FrameBackbone | None = None
        self.backbone_info: dict[str, Any] = {}
        self.device = torch.device("cpu")
        self.weights: dict[str, Any] = {}

    def make_guide(self) -> AssociationGuidance | None:
        """The guidance step from the mapping file (read when evaluation starts, not when the config is built)."""
        if self.guidance_cfg["scale"] == 0:
            return None
        mapping = read_mapping(self.mapping_file) if self.mapping_file else official_mapping()
        return AssociationGuidance(mapping, self.guidance_cfg["scale"], self.guidance_cfg["components"])

    def build_model(self) -> ASDiffusionModel:
        return ASDiffusionModel(**self.params, num_classes=JOINT_CHANNELS, activation="sigmoid", causal=self.causal)

    # -- features --------------------------------------------------------------------------------------
    def backbone_dir(self) -> Path:
        if self.checkpoint is None:
            raise FileNotFoundError("DiffTriplet with a backbone needs the checkpoint of its training run")
        return Path(self.checkpoint).parent / BACKBONE_DIR

    def video_features(self, item_features: Any, frames: Any, video: str) -> torch.Tensor:
        """[S, D, T] features of one video: the dataset's, or the fold backbone's (cached per video)."""
        if self.backbone is None:
            if item_features is None:
                raise KeyError(f"video {video}: the dataset gives no features (set its features_dir) and the "
                               "method has no backbone")
            return torch.as_tensor(item_features)
        if frames is None:
            raise KeyError(f"video {video}: the backbone needs frame paths; read the dataset with frames=True")
        if self.checkpoint is None:  # setup_untrained: no training run, so no fold folder to cache features in
            return torch.from_numpy(self.backbone.features(frames, self.device)).T.unsqueeze(0)
        if video in self.backbone_info.get("train_videos", []) and self.backbone_info.get("check_leak", True):
            raise ValueError(f"video {video} was used to train this fold's backbone ({self.backbone_dir()}); "
                             "evaluating it would leak test data into the features")
        cache = FeatureCache(self.backbone_dir() / "features")
        return torch.from_numpy(cache.get(video, frames, self.backbone, self.device)).T.unsqueeze(0)

    # -- evaluation ------------------------------------------------------------------------------------
    def setup(self, device: torch.device, seed: int = 0) -> None:
        self.device = device
        self.model = self.build_model()
        if self.checkpoint is None or not Path(self.checkpoint).is_file():
            raise FileNotFoundError(f"DiffTriplet checkpoint not found: {self.checkpoint}\n  no weights are "
                                    "released: train one with a `train` section (epoch-<e>.model)")
        self.weights = load_weights(self.model, self.checkpoint)
        self.model.eval().to(device)
        self.guide = self.make_guide()
        if self.backbone_settings is not None:
            self.backbone_info = read_json(self.backbone_dir() / "backbone.json")
            self.backbone = FrameBackbone(self.backbone_settings)
            if self.backbone_info.get("fine_tuned"):
                load_weights(self.backbone.model, self.backbone_dir() / "final.pth")
            else:
                self.backbone.load_start()

    def setup_untrained(self, device: torch.device, seed: int = 0) -> None:
        """The freshly initialised model and, with a ``backbone``, its starting weights, whose features are then
        computed without a cache (``bench validate`` on a training config: checks architecture and I/O)."""
        self.device = device
        self.model = self.build_model().eval().to(device)
        self.guide = self.make_guide()
        if self.backbone_settings is not None:
            self.backbone = FrameBackbone(self.backbone_settings)
            self.backbone.load_start()

    def collate(self, items: list[dict[str, Any]]) -> dict[str, Any]:
        return collate_ragged(items, ("features", "target", "frames", "video"))

    @torch.no_grad()
    def joint_probabilities(self, model: ASDiffusionModel, feats: torch.Tensor, seed: int) -> dict[str, np.ndarray]:
        """[T, 131] probabilities of one video (``feats`` [1, D, T]) by the inference mode, plus the extras."""
        feats = feats.to(self.device).float()
        encoder = None
        if self.inference != "decoder" or self.encoder_outputs:
            encoder = model.probabilities(model.encode(feats)[0])[0].T.cpu().numpy()
        out: dict[str, np.ndarray] = {}
        if self.inference != "encoder":
            decoder = ddim_sample(model, feats, seed, self.guide)[0][0].T.cpu().numpy()
            out["joint"] = decoder if self.inference == "decoder" else (decoder + encoder) / 2
        else:
            out["joint"] = encoder
        if self.encoder_outputs:
            out["encoder"] = encoder
        if self.compare_unguided:
            out["unguided"] = ddim_sample(model, feats, seed, None)[0][0].T.cpu().numpy()
        return out

    def predict(self, batch: dict[str, Any], seeds: torch.Tensor) -> Columns:
        assert self.model is not None, "setup() was not called"
        names = {"joint": "triplet_scores", "encoder": "encoder_triplet_scores", "unguided": "unguided_triplet_scores"}
        outputs: dict[str, list[torch.Tensor]] = {"triplet_target": []}
        count = len(batch["target"])
        features = batch.get("features", [None] * count)
        frames = batch.get("frames", [None] * count)
        for i in range(count):
            video = batch["video"][i]
            seed = int(batch["index"][i]) if self.set_sampling_seed else int(seeds[i])
            feats = self.video_features(features[i], frames[i], video)
            if feats.shape[0] != 1:
                raise ValueError(f"video {video}: test features must hold one spatial version, got {feats.shape[0]}")
            for key, probs in self.joint_probabilities(self.model, feats, seed).items():
                outputs.setdefault(names[key], []).append(torch.from_numpy(probs[:, JOINT_SLICES["ivt"]].copy()))
            outputs["triplet_target"].append(torch.as_tensor(batch["target"][i])[:, JOINT_SLICES["ivt"]].float())
        return outputs

    # -- training --------------------------------------------------------------------------------------
    def fit(self, train_set: Any, val_set: Any | None, work_dir: Path, device: torch.device,
            resume: bool = True, **train_cfg: Any) -> Path:
        """Train the fold's backbone first (with ``backbone``), then the diffusion model on its features."""
        settings = TripletTrainSettings(**train_cfg)
        self.device = device
        work_dir = Path(work_dir)
        targets = list(train_set.targets)
        if self.backbone_settings is None:
            def load_features(index: int) -> torch.Tensor:
                return torch.as_tensor(train_set[index]["features"])
        else:
            load_features = self.fit_backbone(train_set, work_dir, device, resume)
        evaluate = None
        if val_set is not None and settings.eval_every:
            if self.backbone_settings is not None:
                raise ValueError("evaluation during training reads the dataset's features; with a backbone, drop "
                                 "train.val_dataset or eval_every and evaluate the trained run instead")
            self.guide = self.make_guide()
            evaluate = self._scorer(val_set)
        return train_difftriplet(self.build_model(), targets, load_features, work_dir, device, settings,
                                 resume=resume, evaluate=evaluate)

    def fit_backbone(self, train_set: Any, work_dir: Path, device: torch.device, resume: bool) -> Any:
        """Fine-tune the backbone on the training videos' frames; returns a features loader over them."""
        settings = self.backbone_settings
        directory = work_dir / BACKBONE_DIR
        backbone = FrameBackbone(settings)
        backbone.load_start()
        videos = list(train_set.videos)
        frames = [train_set.frame_paths(v) for v in videos]
        if settings.epochs > 0:
            backbone.fine_tune(FrameLabels(frames, train_set.targets, settings.input_size), directory, device, resume)
        atomic_write_json(directory / "backbone.json", {
            "model_name": settings.model_name, "start": backbone.weights or None, "fine_tuned": settings.epochs > 0,
            "train_videos": videos, "check_leak": True})
        cache = FeatureCache(directory / "features")

        def load_features(index: int) -> torch.Tensor:
            return torch.from_numpy(cache.get(videos[index], frames[index], backbone, device)).T.unsqueeze(0)

        return load_features

    def _scorer(self, dataset: Any) -> Any:
        from bench.metrics.triplet_recognition import TripletRecognitionAP

        metric = TripletRecognitionAP(components=("ivt",), global_ap=False)

        def evaluate(model: torch.nn.Module) -> dict[str, float]:
            model.eval()
            scores, targets = [], []
            with torch.no_grad():
                for index in range(len(dataset)):
                    item = dataset[index]
                    probs = self.joint_probabilities(model, torch.as_tensor(item["features"]), index)["joint"]
                    scores.append(probs[:, JOINT_SLICES["ivt"]])
                    targets.append(item["target"][:, JOINT_SLICES["ivt"]].numpy())
            return metric.compute({"triplet_scores": scores, "triplet_target": targets})

        return evaluate

    def use_checkpoint(self, path: str | Path) -> None:
        self.checkpoint = str(path)

    def provenance(self) -> dict[str, Any]:
        from bench.metrics.triplet_recognition import provenance as metric_provenance

        return {**super().provenance(), "checkpoint": self.weights or None, "inference": self.inference,
                "guidance": self.guidance_cfg, "causal": self.causal, "mapping_file": self.mapping_file
                or "official CholecT50 map (ivtmetrics)", "backbone": self.backbone_info or None,
                "seed_rule": "video index in the test list" if self.set_sampling_seed else "harness per-sample seed",
                "ap": metric_provenance()}
