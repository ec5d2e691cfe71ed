"""Method adapters of two-in-one KD: the dual-branch teacher and the distilled single-branch student.

Both score frames for the ``binary_detection`` task (``score`` = sigmoid of the real/fake logit, 1 = fake) and store
the deployed model's cost (``params``, ``macs`` per image) for ``ModelCost``. The student's ``teacher`` is a teacher
method section and checkpoint (in a config, another config's trained teacher through an upstream checkpoint); the
student trains under ``<train dir>/teacher-<sha256[:12]>/``, so a retrained teacher never reuses a stale student.
"""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from bench.checkpoint import extract_state_dict, load_checkpoint_file, load_state_strict, load_weights
from bench.io import sha256_file
from bench.method import Method
from bench.methods.classifier.timm_classifier import resize_and_normalize
from bench.methods.two_in_one_kd.distillation import (
    backward_with_homogenization,
    distillation_losses,
    logit_distillation,
    projector_targets,
)
from bench.methods.two_in_one_kd.frequency import DEFAULT_BANDS
from bench.methods.two_in_one_kd.homogenization import MODES as HOMOGENIZATION_MODES
from bench.methods.two_in_one_kd.models import DualBranchTeacher, Projector, Student
from bench.registry import METHODS
from bench.store import Columns
from bench.throughput import count_macs, count_parameters
from bench.train import train_supervised


class ForgeryDetector(Method):
    """What the teacher and the student share: preprocessing on the device (resize to ``input_size``, normalise
    with ``mean``/``std``), the frame scores and the model's cost. Subclasses build ``self.model``, whose forward
    returns a dict with ``"logit"`` [B]."""

    def __init__(self, checkpoint: str | None = None, input_size: int | None = None,
                 mean: Sequence[float] = (0.5, 0.5, 0.5), std: Sequence[float] = (0.5, 0.5, 0.5)) -> None:
        self.checkpoint, self.input_size = checkpoint, input_size
        self.mean, self.std = tuple(mean), tuple(std)
        self.model: nn.Module | None = None
        self.device = torch.device("cpu")
        self.weights: dict[str, Any] = {}
        self._cost: dict[str, int] | None = None

    def create_model(self) -> nn.Module:
        raise NotImplementedError

    def preprocess(self, images: torch.Tensor) -> torch.Tensor:
        return resize_and_normalize(images, self.device, self.input_size, self.mean, self.std)

    def setup(self, device: torch.device, seed: int = 0) -> None:
        self.device = device
        self.model = self.create_model()
        if self.checkpoint:
            self.weights = self.load(self.model, self.checkpoint)
        self.model.eval().to(device)

    def load(self, model: nn.Module, path: str | Path) -> dict[str, Any]:
        """Load ``path``'s weights into ``model`` strictly; return provenance facts."""
        return load_weights(model, path)

    def use_checkpoint(self, path: str | Path) -> None:
        self.checkpoint = str(path)

    @torch.no_grad()
    def predict(self, batch: dict[str, Any], seeds: torch.Tensor) -> Columns:
        assert self.model is not None, "setup() was not called"
        x = self.preprocess(batch["image"])
        if self._cost is None:
            self._cost = {"params": count_parameters(self.model), "macs": count_macs(self.model, x[:1])}
        n = x.shape[0]
        out: Columns = {"score": torch.sigmoid(self.model(x)["logit"].float()), "target": batch["target"],
                        "params": torch.full((n,), self._cost["params"], dtype=torch.int64),
                        "macs": torch.full((n,), self._cost["macs"], dtype=torch.int64)}
        if "video_id" in batch:
            out["video_id"] = list(batch["video_id"])
        return out

    def provenance(self) -> dict[str, Any]:
        return {**super().provenance(), "checkpoint": self.weights or None}


@METHODS.register_module()
class DualBranchForgeryTeacher(ForgeryDetector):
    """The dual-branch teacher: ``spatial`` and ``frequency`` timm backbones on the image and its DCT ``bands``,
    fused into one logit; trained with binary cross-entropy (``fit``). The default backbones are F3-Net's two
    Xception streams (timm ``legacy_xception``, the original Xception)."""

    def __init__(self, spatial: str = "legacy_xception", frequency: str = "legacy_xception",
                 bands: Sequence[Sequence[float]] = DEFAULT_BANDS, backbone_kwargs: dict[str, Any] | None = None,
                 **common: Any) -> None:
        super().__init__(**common)
        self.spatial, self.frequency = spatial, frequency
        self.bands = tuple(tuple(float(v) for v in band) for band in bands)
        self.backbone_kwargs = dict(backbone_kwargs or {})

    def create_model(self) -> nn.Module:
        return DualBranchTeacher(self.spatial, self.frequency, bands=self.bands, backbone_kwargs=self.backbone_kwargs)

    def fit(self, train_set: Any, val_set: Any | None, work_dir: Path, device: torch.device,
            resume: bool = True, **train_cfg: Any) -> Path:
        self.device = device
        model = self.create_model()

        def loss_fn(net: nn.Module, batch: dict[str, Any]) -> torch.Tensor:
            logit = net(self.preprocess(batch["image"]))["logit"]
            return F.binary_cross_entropy_with_logits(logit, batch["target"].to(device).float())

        return train_supervised(model, train_set, loss_fn, work_dir, device, resume=resume, **train_cfg)

    def provenance(self) -> dict[str, Any]:
        return {**super().provenance(), "spatial": self.spatial, "frequency": self.frequency,
                "bands": [list(b) for b in self.bands]}


class DistilledStudent(nn.Module):
    """What two-in-one KD trains: the student and its projectors (only the student is deployed)."""

    def __init__(self, student: Student, projectors: nn.ModuleDict) -> None:
        super().__init__()
        self.student, self.projectors = student, projectors


@METHODS.register_module()
class TwoInOneKD(ForgeryDetector):
    """A single-branch ``student`` (timm name) distilled from a dual-branch ``teacher``.

    ``teacher``: ``dict(method=<DualBranchForgeryTeacher method section>, checkpoint=<its weights>)``; in a config
    ``dict(method="upstream:teacher.method", checkpoint="upstream:teacher")`` with a ``checkpoint`` upstream.
    ``mode`` is the ablation row (:data:`~bench.methods.two_in_one_kd.distillation.MODES`); ``homogenization`` the
    gradient treatment of the two dedicated losses (``none``, ``equal_norm``, ``project``, ``both``), by default
    ``both`` for ``dedicated`` (the paper's method) and ``none`` for the other modes, which have no pair to
    homogenize; ``weights`` the per-projector loss weights (``spatial``, ``frequency``, ``both``; default 1);
    ``projector`` the projector kind; ``logit_kd`` optional Hinton distillation (``{"weight": 0.0, "temperature":
    4.0}``). The training log (``history`` in the checkpoint) records each loss and the cosine of the two
    distillation gradients before homogenization.
    """

    def __init__(self, student: str, teacher: dict[str, Any], mode: str = "dedicated",
                 homogenization: str | None = None, weights: dict[str, float] | None = None, projector: str = "mlp",
                 feature_norm: bool = True, logit_kd: dict[str, float] | None = None,
                 student_kwargs: dict[str, Any] | None = None, **common: Any) -> None:
        super().__init__(**common)
        projector_targets(mode)  # validates the mode
        if homogenization is None:
            homogenization = "both" if mode == "dedicated" else "none"
        if homogenization not in HOMOGENIZATION_MODES:
            raise ValueError(f"homogenization must be one of {HOMOGENIZATION_MODES}, got {homogenization!r}")
        if homogenization != "none" and mode != "dedicated":
            raise ValueError(f"homogenization {homogenization!r} acts on the two dedicated distillation losses; "
                             f"use mode 'dedicated' (got {mode!r}) or homogenization 'none'")
        if not isinstance(teacher, dict) or set(teacher) != {"method", "checkpoint"}:
            raise ValueError(f"teacher must be dict(method=..., checkpoint=...) (in a config: dict(method="
                             f"'upstream:teacher.method', checkpoint='upstream:teacher')), got {teacher!r}")
        from bench.upstream import require_path

        require_path(teacher["checkpoint"], "TwoInOneKD.teacher.checkpoint")
        if not isinstance(teacher["method"], dict) or teacher["method"].get("type", "DualBranchForgeryTeacher") != \
                "DualBranchForgeryTeacher":
            raise TypeError(f"TwoInOneKD.teacher.method must be a DualBranchForgeryTeacher method section, got "
                            f"{teacher['method']!r}")
        self.student_name, self.teacher_source = student, teacher
        self.mode, self.homogenization, self.projector = mode, homogenization, projector
        self.weights = {name: float(w) for name, w in (weights or {}).items()}
        unknown = set(self.weights) - {"spatial", "frequency", "both"}
        if unknown:
            raise ValueError(f"weights name projectors 'spatial', 'frequency' or 'both'; got {sorted(unknown)}")
        self.feature_norm = feature_norm
        self.logit_kd = {"weight": 0.0, "temperature": 4.0, **(logit_kd or {})}
        self.student_kwargs = dict(student_kwargs or {})
        self.teacher_facts: dict[str, Any] = {}
        self.history: list[dict[str, float]] = []

    def create_model(self) -> nn.Module:
        return Student(self.student_name, backbone_kwargs=self.student_kwargs)

    def build_teacher(self, device: torch.device) -> DualBranchForgeryTeacher:
        """The teacher, set up on ``device`` from its method section and checkpoint (nothing trains here)."""
        kwargs = {k: v for k, v in self.teacher_source["method"].items() if k not in ("type", "checkpoint")}
        teacher = DualBranchForgeryTeacher(**kwargs, checkpoint=str(self.teacher_source["checkpoint"]))
        teacher.setup(device)
        self.teacher_facts = {"source": self.teacher_source, **teacher.weights}
        return teacher

    def fit(self, train_set: Any, val_set: Any | None, work_dir: Path, device: torch.device,
            resume: bool = True, **train_cfg: Any) -> Path:
        self.device = device
        teacher = self.build_teacher(device)
        assert teacher.model is not None
        torch.manual_seed(int(train_cfg.get("seed", 0)))  # same student init whether or not the teacher just trained
        student = self.create_model()
        widths = {"spatial": teacher.model.spatial.num_features, "frequency": teacher.model.frequency.num_features}
        projectors = nn.ModuleDict({name: Projector(student.backbone.num_features, sum(widths[k] for k in keys),
                                                    self.projector)
                                    for name, keys in projector_targets(self.mode).items()})
        model = DistilledStudent(student, projectors)
        shared = list(student.backbone.parameters())
        others = [*student.head.parameters(), *projectors.parameters()]

        def loss_fn(net: nn.Module, batch: dict[str, Any]) -> dict[str, Any]:
            images = batch["image"]
            with torch.no_grad():
                taught = teacher.model(teacher.preprocess(images))
            out = net.student(self.preprocess(images))
            target = batch["target"].to(device).float()
            classification = F.binary_cross_entropy_with_logits(out["logit"], target)
            logged: dict[str, Any] = {"classification": classification.detach()}
            if self.logit_kd["weight"]:
                kd = logit_distillation(out["logit"], taught["logit"], float(self.logit_kd["temperature"]))
                classification = classification + float(self.logit_kd["weight"]) * kd
                logged["logit_kd"] = kd.detach()
            distill = distillation_losses(out["features"], taught, net.projectors, self.mode, self.feature_norm)
            stats = backward_with_homogenization(classification, distill, self.weights, shared, others,
                                                 self.homogenization)
            total = classification + sum(self.weights.get(k, 1.0) * v for k, v in distill.items())
            logged.update({f"distill_{name}": loss.detach() for name, loss in distill.items()})
            if len(distill) == 2:
                logged["distill_cosine"] = stats["distill_cosine"]
            return {"loss": total.detach(), **logged}

        final = train_supervised(model, train_set, loss_fn, Path(work_dir) / f"teacher-{self.teacher_sha()[:12]}",
                                 device, resume=resume, backward=False, **train_cfg)
        self.history = load_checkpoint_file(final)["meta"]["history"]
        return final

    def teacher_sha(self) -> str:
        sha = self.teacher_facts.get("sha256")
        if not sha:
            raise RuntimeError("the teacher has no checkpoint; build_teacher() first")
        return str(sha)

    def load(self, model: nn.Module, path: str | Path) -> dict[str, Any]:
        """The student's weights from a two-in-one KD checkpoint (keys ``student.*``; projectors are dropped) or
        from a plain student state dict."""
        checkpoint = load_checkpoint_file(path)
        state = extract_state_dict(checkpoint, path=path)
        if any(k.startswith("student.") for k in state):
            state = {k.removeprefix("student."): v for k, v in state.items() if k.startswith("student.")}
        load_state_strict(model, state, path, hint="Check that the config's student (model name, student_kwargs) is "
                          "the one the checkpoint was trained with.")
        meta = checkpoint.get("meta", {}) if isinstance(checkpoint, dict) else {}
        self.history = meta.get("history", [])
        return {"path": str(path), "sha256": sha256_file(path)}

    def fitted_values(self) -> dict[str, float]:
        """From the last training epoch: the mean cosine of the spatial and frequency distillation gradients on
        the student's shared parameters (before homogenization), when two losses were distilled."""
        last = self.history[-1] if self.history else {}
        return {"distill grad cosine (last epoch)": float(last["distill_cosine"])} if "distill_cosine" in last else {}

    def provenance(self) -> dict[str, Any]:
        return {**super().provenance(), "student": self.student_name, "mode": self.mode,
                "homogenization": self.homogenization, "teacher": self.teacher_facts or {"source": self.teacher_source},
                "training_history": self.history or None}
