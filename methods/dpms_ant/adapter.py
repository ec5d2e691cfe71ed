"""The DPMs-ANT method adapters: ``DpmsAntClassifier`` (stage 1, the source-vs-target domain classifier, its own
artefact) and ``DpmsAnt`` (stages 2-3 on a frozen source model, then sampling for the generation task).

``DpmsAnt.fit`` trains on the few-shot target set (the train section's dataset, e.g. CDC's ``train10``) with
:func:`~bench.methods.dpms_ant.training.train_ant`; the ablation rows of the paper's Fig. 4 are the ``ablation``
option: ``adaptor_only`` (plain ε-loss, adaptors only), ``full_finetune`` (plain ε-loss, every backbone parameter,
no adaptors), ``ant_no_an`` (similarity-guided target, random noise) and ``ant``. The product is an adaptor file
(:func:`~bench.methods.dpms_ant.backbones.save_adaptors`; the EMA copy beside it) or, for full fine-tuning, the
whole fine-tuned state dict. Sampling is the official generalised step (η = 1, ``sample_steps`` uniformly skipped
steps, x̂0 clipped) with the raw weights by default, as image_generator.py samples (``use_ema`` for the EMA).
"""
from __future__ import annotations

import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from bench.checkpoint import CheckpointError, load_checkpoint_file
from bench.io import atomic_torch_save
from bench.method import Method
from bench.metrics.base import Metric
from bench.registry import DATASETS, METHODS, METRICS
from bench.seeding import sample_generator
from bench.store import Columns

FULL_FILE_FORMAT = "dpms_ant_finetuned/1"
ADAPTORS, ADAPTORS_EMA, FINETUNED = "adaptors.pth", "adaptors_ema.pth", "finetuned.pth"
CLASSIFIER_FILE = "final.pth"


def _images(dataset: Any, what: str, key: str = "image") -> torch.Tensor:
    """Every ``dataset[i][key]`` (float in [0, 1]) stacked and mapped to [−1, 1] (the official Normalize)."""
    if len(dataset) == 0:
        raise ValueError(f"DPMs-ANT: the {what} set is empty")
    images = torch.stack([torch.as_tensor(dataset[i][key]).float() for i in range(len(dataset))])
    if images.min() < -1e-6 or images.max() > 1 + 1e-6:
        raise ValueError(f"DPMs-ANT: the {what} images lie in [{float(images.min()):.3g}, {float(images.max()):.3g}]; "
                         "expected floats in [0, 1] as the project's readers give them")
    return images * 2.0 - 1.0


class DatasetImages:
    """A dataset's images in [−1, 1], read only when indexed: the stage-1 source domain (FFHQ's 70,000 images at 256
    px would be 55 GB as one float tensor); each training step reads the 10 rows it draws, as the official
    dataloader does. Indexed by an index tensor; ``device`` is where the rows go."""

    def __init__(self, dataset: Any, device: torch.device, key: str = "image") -> None:
        if len(dataset) == 0:
            raise ValueError("DPMs-ANT: the source set is empty")
        self.dataset, self.device, self.key = dataset, device, key

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: torch.Tensor) -> torch.Tensor:
        rows = [torch.as_tensor(self.dataset[int(i)][self.key]).float() for i in index.tolist()]
        return (torch.stack(rows) * 2.0 - 1.0).to(self.device)


def load_source(spec: str | Mapping[str, Any], device: torch.device) -> tuple[nn.Module, dict[str, Any]]:
    """The frozen source model: ``{"model": folder or checkpoint, "preset": ...}`` (a diffusers ``UNet2DModel``
    through :func:`~bench.methods.diffusion.unet.load_unet`: a pipeline folder such as the train stage writes, or an
    original DDPM checkpoint such as LSUN Church's with ``preset="lsun_church"``) or ``{"adm": path, "preset"/"flags":
    ...}`` (guided-diffusion, :func:`~bench.methods.diffusion.adm.load_adm`). A string is a ``model`` path."""
    spec = {"model": spec} if isinstance(spec, (str, Path)) else dict(spec)
    if "adm" in spec:
        from bench.methods.diffusion.adm import load_adm

        model, facts = load_adm(spec["adm"], preset=spec.get("preset"), flags=spec.get("flags"))
        return model.to(device), {"kind": "adm", **facts}
    if "model" not in spec:
        raise ValueError(f"DPMs-ANT source must name 'model' (a diffusers folder or DDPM checkpoint) or 'adm' (a "
                         f"guided-diffusion checkpoint); got keys {sorted(spec)}")
    from bench.methods.diffusion.unet import load_unet

    unet, facts = load_unet(spec["model"], preset=spec.get("preset"))
    return unet.to(device), {"kind": "ddpm_unet", **facts}


class EpsModel(nn.Module):
    """``model(x_t, t) -> ε̂`` as a plain tensor for either backbone (a learned-variance ADM's ε channels only)."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model
        self.channels = int(getattr(getattr(model, "config", None), "in_channels", 0) or model.in_channels)

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        out = self.model(x, t)
        out = out.sample if hasattr(out, "sample") else out
        return out[:, :self.channels]


def build_classifier(spec: Mapping[str, Any], device: torch.device, pretrained: bool = True) -> nn.Module:
    """The stage-1 classifier's network with its 2-class head: ``{"adm": path, "preset"/"flags"}`` starts from a
    released ADM noisy classifier (e.g. ``256x256_classifier.pt``, fine-tuned from it as the code does; with
    ``pretrained=False`` only its architecture is built), ``{"flags": {...}}`` builds a fresh one (the demo: no
    noisy classifier exists for digits)."""
    from bench.methods.diffusion.adm import ADMClassifier, build_adm, load_adm
    from bench.methods.dpms_ant.training import two_class_head

    if "adm" not in spec and "flags" not in spec:
        raise ValueError(f"DPMs-ANT classifier needs 'adm' (a released noisy classifier) or 'flags' (a fresh "
                         f"ADMClassifier); got keys {sorted(spec)}")
    if "adm" in spec and pretrained:
        model, _ = load_adm(spec["adm"], preset=spec.get("preset"), flags=spec.get("flags"))
    else:
        flags = spec.get("flags") or spec.get("preset") or Path(str(spec["adm"])).name
        model = build_adm({**dict(flags), "kind": "classifier"} if isinstance(flags, Mapping) else flags)
    if not isinstance(model, ADMClassifier):
        raise ValueError("DPMs-ANT classifier: the flags/preset build a diffusion U-Net, not a classifier")
    return two_class_head(model).to(device)


def load_classifier(spec: Mapping[str, Any], checkpoint: str | Path, device: torch.device) -> nn.Module:
    """The trained stage-1 classifier: its network (:func:`build_classifier`, same spec as the classifier config's
    ``network``) with the ``final.pth`` state dict that :class:`DpmsAntClassifier` wrote, in eval mode, frozen."""
    path = Path(checkpoint)
    saved = load_checkpoint_file(path)
    if not isinstance(saved, dict) or "state_dict" not in saved:
        raise CheckpointError(f"{path} is not a DPMs-ANT domain classifier (expected the 'final.pth' of a "
                              "DpmsAntClassifier train stage, a dict with 'state_dict')")
    model = build_classifier(spec, device, pretrained=False)
    model.load_state_dict(saved["state_dict"])
    model.eval().requires_grad_(False)
    return model


@METHODS.register_module()
class DpmsAntClassifier(Method):
    """Stage 1: the noisy source-vs-target classifier (labels: source 1, target 0), trained by ``fit`` with
    :func:`~bench.methods.dpms_ant.training.train_domain_classifier` on the train section's dataset (the target
    images: 10, or 100 for Table 3) and ``source`` (a dataset spec of source-domain images). ``network``: see
    :func:`build_classifier`; ``settings``: :class:`~bench.methods.dpms_ant.training.ClassifierSettings` fields.

    Evaluated (``bench run``) as a classifier of noised images: each sample is noised at a timestep drawn from its
    own seed (uniform over T), so accuracy is averaged over noise levels; ``logits`` [B, 2] for the classification
    task with the ``target`` labels of :class:`~bench.datasets.fewshot.DomainPair`."""

    def __init__(self, network: dict[str, Any], source: dict[str, Any], settings: dict[str, Any] | None = None,
                 checkpoint: str | None = None) -> None:
        from bench.methods.dpms_ant.training import ClassifierSettings

        self.network, self.source_spec = dict(network), dict(source)
        self.settings = ClassifierSettings(**dict(settings or {}))
        self.checkpoint = checkpoint
        self.model: nn.Module | None = None
        self.device = torch.device("cpu")

    def fit(self, train_set: Any, val_set: Any | None, work_dir: Path, device: torch.device, resume: bool = True,
            **train_cfg: Any) -> Path:
        from bench.methods.dpms_ant.training import train_domain_classifier

        settings = self._seeded(self.settings, train_cfg, "DpmsAntClassifier")
        final = Path(work_dir) / CLASSIFIER_FILE
        if resume and final.is_file():
            return final
        source = DatasetImages(DATASETS.build(dict(self.source_spec)), device)
        target = _images(train_set, "target").to(device)
        model = build_classifier(self.network, device)
        run = train_domain_classifier(model, source, target, settings, work_dir=Path(work_dir), resume=resume)
        assert run.final is not None
        return run.final

    @staticmethod
    def _seeded(settings: Any, train_cfg: dict[str, Any], who: str) -> Any:
        """``settings`` with the train section's ``seed`` (the harness's one training seed; the official runs use
        1228); any other train key is an error: the training settings live in the method section."""
        from dataclasses import replace

        extra = sorted(set(train_cfg) - {"seed"})
        if extra:
            raise ValueError(f"{who}: the train section takes only 'dataset' and 'seed'; the training settings go in "
                             f"method.settings (and method.preset), got {extra}")
        return replace(settings, seed=int(train_cfg["seed"])) if "seed" in train_cfg else settings

    def use_checkpoint(self, path: str | Path) -> None:
        self.checkpoint = str(path)

    def setup(self, device: torch.device, seed: int = 0) -> None:
        if self.checkpoint is None:
            raise RuntimeError("DpmsAntClassifier: no trained classifier; run the config's train stage first")
        self.device = device
        self.model = load_classifier(self.network, self.checkpoint, device)

    @torch.no_grad()
    def predict(self, batch: dict[str, Any], seeds: torch.Tensor) -> Columns:
        from bench.methods.dpms_ant.objectives import q_sample
        from bench.methods.dpms_ant.training import linear_alphas_cumprod

        assert self.model is not None, "setup() was not called"
        x0 = batch["image"].to(self.device).float() * 2.0 - 1.0
        schedule = linear_alphas_cumprod(self.settings.num_timesteps).to(self.device)
        generators = [sample_generator(int(s)) for s in seeds]
        t = torch.stack([torch.randint(0, len(schedule), (), generator=g) for g in generators]).to(self.device)
        noise = torch.stack([torch.randn(x0.shape[1:], generator=g) for g in generators]).to(self.device)
        logits = self.model(q_sample(x0, t, noise, schedule), t).float()
        return {"logits": logits.cpu(), "target": batch["target"], "timestep": t.cpu()}

    def provenance(self) -> dict[str, Any]:
        return {**super().provenance(), "network": self.network, "source": self.source_spec,
                "settings": {k: v for k, v in vars(self.settings).items()}, "checkpoint": self.checkpoint,
                "labels": {"source": 1, "target": 0}}


@METHODS.register_module()
class DpmsAnt(Method):
    """DPMs-ANT transfer of ``source`` (see :func:`load_source`) to the train section's few-shot target set.

    ``classifier``: ``{"network": <the classifier config's network>, "checkpoint": "upstream:classifier"}``, needed
    by the guided ablations (``ant``, ``ant_no_an``). ``ablation``: a row of the paper's Fig. 4 (module docstring);
    ``objective``: :class:`~bench.methods.dpms_ant.objectives.AntObjective` overrides (gamma, omega, ascent_steps,
    resample_t, ascent_grad); ``preset`` "official" (configs/DDPM/base.yaml as the code runs it) or "paper" (lr,
    iterations, batch of the paper), ``settings`` overrides of :class:`~bench.methods.dpms_ant.training.AntSettings`;
    ``adaptor``: :class:`~bench.methods.dpms_ant.adaptor.AdaptorConfig` fields. ``num_train_timesteps`` and
    ``beta_schedule``: the source model's noise process (the linear 1e-4 … 0.02 of T = 1000 for every official
    model); a source folder whose scheduler config disagrees is refused. Outputs ``image`` uint8 and ``class_label``.
    """

    eval_only_params = ("sample_steps", "eta", "use_ema")

    def __init__(self, source: str | dict[str, Any], ablation: str = "ant", classifier: dict[str, Any] | None = None,
                 objective: dict[str, Any] | None = None, preset: str = "official", backbone: str = "ddpm",
                 settings: dict[str, Any] | None = None, adaptor: dict[str, Any] | None = None,
                 adaptor_seed: int = 0, num_train_timesteps: int = 1000, beta_schedule: str = "linear",
                 sample_steps: int = 500, eta: float = 1.0, use_ema: bool = False, checkpoint: str | None = None,
                 smoke_reason: str | None = None) -> None:
        from bench.methods.dpms_ant.adaptor import AdaptorConfig
        from bench.methods.dpms_ant.objectives import ablation as make_objective
        from bench.methods.dpms_ant.training import ant_settings

        self.source = source
        self.ablation = ablation
        objective_cfg = make_objective(ablation, **dict(objective or {}))
        self.settings = ant_settings(preset, backbone, **dict(settings or {}), objective=objective_cfg)
        self.preset, self.backbone = preset, backbone
        self.classifier_spec = dict(classifier) if classifier else None
        if objective_cfg.guidance and (self.classifier_spec is None or "checkpoint" not in self.classifier_spec
                                       or "network" not in self.classifier_spec):
            raise ValueError(f"DpmsAnt: ablation {ablation!r} uses similarity guidance: give classifier=dict(network="
                             "..., checkpoint='upstream:classifier') (a DpmsAntClassifier config's product), or use "
                             "ablation='adaptor_only' / 'full_finetune'")
        self.adaptor = AdaptorConfig.from_dict(adaptor)
        self.adaptor_seed = int(adaptor_seed)
        self.num_train_timesteps, self.beta_schedule = int(num_train_timesteps), beta_schedule
        if self.num_train_timesteps % int(sample_steps):
            raise ValueError(f"DpmsAnt: sample_steps ({sample_steps}) must divide num_train_timesteps "
                             f"({num_train_timesteps}), the official uniform skip")
        self.sample_steps, self.eta, self.use_ema = int(sample_steps), float(eta), bool(use_ema)
        self.checkpoint = checkpoint
        self.smoke, self.smoke_reason = smoke_reason is not None, smoke_reason
        self.model: EpsModel | None = None
        self.device = torch.device("cpu")
        self.facts: dict[str, Any] = {}
        self.sampling_seconds = 0.0

    # ------------------------------------------------------------------ the backbone and its noise process
    def _alphas_cumprod(self) -> torch.Tensor:
        from bench.methods.diffusion.gaussian import named_beta_schedule

        betas = torch.from_numpy(named_beta_schedule(self.beta_schedule, self.num_train_timesteps)).float()
        return (1.0 - betas).cumprod(dim=0)

    def _check_source_schedule(self) -> None:
        """A diffusers source folder records its training β: they must be the ones ANT trains and samples with."""
        spec = {"model": self.source} if isinstance(self.source, (str, Path)) else dict(self.source)
        if "model" not in spec or not Path(str(spec["model"])).is_dir():
            return
        from diffusers import DDPMScheduler

        from bench.methods.diffusion.unet import load_scheduler_config

        config = load_scheduler_config(spec["model"])
        theirs = DDPMScheduler.from_config(config).alphas_cumprod
        mine = self._alphas_cumprod()
        if len(theirs) != len(mine) or float((theirs - mine).abs().max()) > 1e-5:
            raise ValueError(f"DpmsAnt: the source model {spec['model']} was trained with another noise schedule "
                             f"({config.get('beta_schedule')} betas {config.get('beta_start')}.."
                             f"{config.get('beta_end')}, T = {config.get('num_train_timesteps')}) than "
                             f"num_train_timesteps={self.num_train_timesteps}, beta_schedule={self.beta_schedule!r}; "
                             "set those to match")

    def _prepare(self, device: torch.device) -> tuple[nn.Module, list[nn.Parameter]]:
        from bench.methods.dpms_ant.backbones import add_adaptors, adaptor_parameters, freeze_backbone

        self._check_source_schedule()
        model, self.facts["source"] = load_source(self.source, device)
        if self.ablation == "full_finetune":
            model.requires_grad_(True)
            return model, [p for p in model.parameters()]
        add_adaptors(model, self.adaptor, seed=self.adaptor_seed)
        freeze_backbone(model)
        return model, adaptor_parameters(model)

    # ------------------------------------------------------------------------------------------- training
    def fit(self, train_set: Any, val_set: Any | None, work_dir: Path, device: torch.device, resume: bool = True,
            **train_cfg: Any) -> Path:
        from bench.methods.dpms_ant.backbones import parameter_counts, save_adaptors
        from bench.methods.dpms_ant.training import fixed_batch, train_ant

        settings = DpmsAntClassifier._seeded(self.settings, train_cfg, "DpmsAnt")
        work_dir = Path(work_dir)
        product = work_dir / (FINETUNED if self.ablation == "full_finetune" else ADAPTORS)
        if resume and product.is_file():
            return product
        target = _images(train_set, "target").to(device)
        model, params = self._prepare(device)
        classifier = None
        if self.settings.objective.guidance:
            assert self.classifier_spec is not None
            classifier = load_classifier(self.classifier_spec["network"], self.classifier_spec["checkpoint"], device)
        x0 = fixed_batch(target, settings.batch_size, seed=settings.seed)
        eps_model = EpsModel(model)
        run = train_ant(eps_model, params, classifier, x0, self._alphas_cumprod(), settings,
                        work_dir=work_dir / "train", resume=resume)
        counts = parameter_counts(model) if self.ablation != "full_finetune" else {
            "trainable": sum(p.numel() for p in params), "total": sum(p.numel() for p in params), "adaptor": 0}
        facts = {"ablation": self.ablation, "preset": self.preset, "settings": _plain(settings),
                 "target_images": len(target), "parameters": counts,
                 "trainable_share": counts["trainable"] / counts["total"], "losses": run.losses,
                 "source": self.facts.get("source", {})}
        if self.ablation == "full_finetune":
            ema_state = dict(model.state_dict())
            with torch.no_grad():
                names = [n for n, _ in model.named_parameters()]
                for name, mirror in zip(names, run.ema, strict=True):
                    ema_state[name] = mirror.detach().cpu()
            atomic_torch_save(product, {"format": FULL_FILE_FORMAT, "facts": facts,
                                        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
                                        "ema_state_dict": ema_state})
            return product
        with torch.no_grad():  # the EMA copy first, then the raw weights back (what image_generator.py samples)
            raw = [p.detach().clone() for p in params]
            for param, mirror in zip(params, run.ema, strict=True):
                param.copy_(mirror)
            save_adaptors(model, work_dir / ADAPTORS_EMA, {**facts, "weights": "ema"})
            for param, value in zip(params, raw, strict=True):
                param.copy_(value)
        return save_adaptors(model, product, {**facts, "weights": "raw"})

    def use_checkpoint(self, path: str | Path) -> None:
        self.checkpoint = str(path)

    # ------------------------------------------------------------------------------------------- sampling
    def setup(self, device: torch.device, seed: int = 0) -> None:
        from bench.methods.dpms_ant.backbones import load_adaptors, parameter_counts

        if self.checkpoint is None:
            raise RuntimeError("DpmsAnt: nothing trained yet; run the config's train stage (bench run/train) first")
        self.device = device
        path = Path(self.checkpoint)
        model, self.facts["source"] = load_source(self.source, device)
        if self.ablation == "full_finetune":
            saved = load_checkpoint_file(path)
            if not isinstance(saved, dict) or saved.get("format") != FULL_FILE_FORMAT:
                raise CheckpointError(f"{path} is not a DPMs-ANT full fine-tuning file (format {FULL_FILE_FORMAT!r}); "
                                      "ablation='full_finetune' loads the file its own train stage wrote")
            model.load_state_dict(saved["ema_state_dict" if self.use_ema else "state_dict"])
            self.facts["trained"] = saved["facts"]
        else:
            chosen = path.with_name(ADAPTORS_EMA) if self.use_ema else path
            self.facts["trained"] = load_adaptors(model, chosen)["facts"]
            self.facts["parameters"] = parameter_counts(model)
        self.facts["weights"] = "ema" if self.use_ema else "raw"
        self.model = EpsModel(model).eval()

    @torch.no_grad()
    def predict(self, batch: dict[str, Any], seeds: torch.Tensor) -> Columns:
        from bench.methods.dpms_ant.sampling import sample_per_seed
        from bench.tasks.generation.exports import to_uint8_images

        assert self.model is not None, "setup() was not called"
        inner: Any = self.model.model
        size = int(inner.config.sample_size) if hasattr(inner, "config") else int(inner.image_size)
        start = time.perf_counter()
        images = sample_per_seed(self.model, (self.model.channels, size, size), [int(s) for s in seeds],
                                 device=self.device, sample_steps=self.sample_steps, eta=self.eta,
                                 betas_schedule=self.beta_schedule, num_train_timesteps=self.num_train_timesteps)
        self.sampling_seconds += time.perf_counter() - start
        share = float(self.facts["trained"].get("trainable_share", float("nan")))
        return {"image": to_uint8_images(images).cpu(), "class_label": batch["class_label"],
                "trainable_share": torch.full((len(seeds),), share, dtype=torch.float64)}

    def provenance(self) -> dict[str, Any]:
        trained = dict(self.facts.get("trained", {}))
        trained.pop("losses", None)
        return {**super().provenance(), "ablation": self.ablation, "preset": self.preset,
                "settings": _plain(self.settings), "adaptor": self.adaptor.to_dict(),
                "source": self.facts.get("source"), "trained": trained, "weights": self.facts.get("weights"),
                "sampler": {"step": "generalised DDPM/DDIM (DDIMScheduler.step)", "eta": self.eta,
                            "sample_steps": self.sample_steps, "clip_x0": True,
                            "noise": "per-sample CPU generator (runner seed): x_T, then one draw per step"},
                "sampling_seconds_rank0": round(self.sampling_seconds, 3)}


def _plain(value: Any) -> Any:
    """A dataclass tree as JSON-like dicts."""
    from dataclasses import asdict, is_dataclass

    return asdict(value) if is_dataclass(value) and not isinstance(value, type) else value


@METRICS.register_module()
class TrainableShare(Metric):
    """The share of the model's parameters that transfer trained, in percent (the paper's "1.3% params"; adaptors
    over all parameters, adaptors included, as the code's "train parameters rate"), from the constant per-sample
    ``trainable_share`` column the adapter stores, so ``bench score`` reports it too."""

    required = ("trainable_share",)

    def compute(self, outputs: Columns) -> dict[str, float]:
        values = torch.unique(torch.as_tensor(outputs["trainable_share"], dtype=torch.float64))
        if len(values) != 1:
            raise ValueError(f"TrainableShare: samples disagree on the trainable share ({values.tolist()}); were they "
                             "produced by different trained models?")
        return {"trainable params (%)": 100.0 * float(values[0])}
