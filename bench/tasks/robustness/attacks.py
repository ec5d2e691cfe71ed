"""Adversarial attacks for the robustness task, built from config specs with every parameter explicit.

Attacks come from torchattacks (pinned: its defaults changed between releases, e.g. AutoAttack's ``eps`` was 0.3
in old ones), so ``eps`` must be given and every resolved parameter is recorded with the library version. Two
attacks are composed here because torchattacks has no ready form of them:

- ``OriginalAutoAttack``: fra31/auto-attack's suites with its iteration counts (torchattacks' ``AutoAttack`` runs
  APGD/APGD-T/FAB with 10 steps, not 100, and has no ``rand`` version), from torchattacks' own components.
- ``BPDAEOT``: the BPDA+EOT attack of ebm-defense as DiffPure and IDC's ``IDC-BPDA`` scripts run it.
"""
from __future__ import annotations

import inspect
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from bench.registry import ATTACKS, UnknownNameError

LIBRARY = "torchattacks"


def library_version() -> str:
    import torchattacks

    return f"{LIBRARY} {torchattacks.__version__}"


def _resolved(cls: type, kwargs: dict[str, Any]) -> dict[str, Any]:
    """Every constructor parameter of ``cls`` (but the model) with the value it gets: given or default."""
    params = inspect.signature(cls).parameters
    values = {n: p.default for n, p in params.items() if n not in ("self", "model")
              and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}
    values.update(kwargs)
    return values


@ATTACKS.register_module()
class OriginalAutoAttack:
    """fra31/auto-attack's ``standard`` or ``rand`` suite from torchattacks components, as ``MultiAttack``.

    ``standard``: APGD-CE (100 steps), APGD-T (100 steps, 9 target classes), FAB-T (100 steps, 9 targets),
    Square (5,000 queries), one restart each. ``rand`` (for stochastic defences): APGD-CE and APGD-DLR, 100 steps,
    EOT over 20 draws. Each attack runs only on the points still robust (``MultiAttack``), the original's
    worst-case-per-point rule. Differences from the original: torchattacks' implementations, and MultiAttack
    judges "still robust" from one forward pass.
    """

    def __init__(self, eps: float, norm: str = "Linf", version: str = "standard", n_classes: int = 10,
                 steps: int = 100, n_target_classes: int = 9, n_queries: int = 5000, eot_iter: int = 20,
                 seed: int = 0) -> None:
        if version not in ("standard", "rand"):
            raise ValueError(f"OriginalAutoAttack version must be 'standard' or 'rand', got {version!r}")
        self.eps, self.norm, self.version, self.n_classes = eps, norm, version, n_classes
        self.steps, self.n_target_classes, self.n_queries = steps, n_target_classes, n_queries
        self.eot_iter, self.seed = eot_iter, seed

    def build(self, model: nn.Module) -> Any:
        import torchattacks as ta

        common = dict(eps=self.eps, norm=self.norm, seed=self.seed, n_restarts=1)
        if self.version == "rand":
            parts = [ta.APGD(model, loss="ce", steps=self.steps, eot_iter=self.eot_iter, **common),
                     ta.APGD(model, loss="dlr", steps=self.steps, eot_iter=self.eot_iter, **common)]
        else:
            apgdt = ta.APGDT(model, steps=self.steps, n_classes=self.n_classes, **common)
            fabt = ta.FAB(model, steps=self.steps, multi_targeted=True, n_classes=self.n_classes, **common)
            for attack in (apgdt, fabt):  # torchattacks targets all n_classes - 1 classes; the original 9
                attack.n_target_classes = min(self.n_target_classes, self.n_classes - 1)
            parts = [ta.APGD(model, loss="ce", steps=self.steps, **common), apgdt, fabt,
                     ta.Square(model, n_queries=self.n_queries, **common)]
        return ta.MultiAttack(parts)


@ATTACKS.register_module()
class BPDAEOT:
    """BPDA+EOT (ebm-defense; DiffPure's and IDC's ``bpda_eot_attack.py``): L∞ PGD whose gradient averages
    ``eot_attack_reps`` stochastic forward passes, with defence verification over ``eot_defense_reps`` passes.

    The whole model is differentiated: IDC's script sets its purifier to the identity, so its BPDA step is the
    identity and this is what it computes. A sample counts as broken once the averaged ``eot_attack_reps``
    prediction is wrong and ``eot_defense_reps`` passes confirm it; the image that broke it is returned (the
    final iterate for samples never broken), and the run's prediction is then made on it. ``average`` is how
    repeated outputs are combined, ``"logits"`` as in the script (it averages whatever the model returns).
    """

    def __init__(self, eps: float, alpha: float = 2 / 255, steps: int = 50, eot_attack_reps: int = 15,
                 eot_defense_reps: int = 150, average: str = "logits") -> None:
        if average not in ("logits", "softmax"):
            raise ValueError(f"BPDAEOT average must be 'logits' or 'softmax', got {average!r}")
        self.eps, self.alpha, self.steps = eps, alpha, steps
        self.eot_attack_reps, self.eot_defense_reps, self.average = eot_attack_reps, eot_defense_reps, average

    def build(self, model: nn.Module) -> BPDAEOT:
        self.model = model
        return self

    def _mean_scores(self, images: torch.Tensor, reps: int) -> torch.Tensor:
        scores = self.model(images.repeat(reps, *[1] * (images.ndim - 1)))
        if self.average == "softmax":
            scores = scores.softmax(dim=1)
        return scores.view(reps, len(images), -1).mean(0)

    def _verify(self, images: torch.Tensor, labels: torch.Tensor, correct: torch.Tensor,
                defended: torch.Tensor) -> torch.Tensor:
        """``defended & correct``, except that a sample the averaged pass calls broken is re-checked with
        ``eot_defense_reps`` passes first (the script's ``eot_defense_verification``)."""
        defended = defended.clone()
        for i in torch.nonzero(defended & ~correct).flatten().tolist():
            if self.eot_defense_reps > 0:
                with torch.no_grad():
                    scores = self._mean_scores(images[i:i + 1], self.eot_defense_reps)
                defended[i] = bool(scores.argmax(1).item() == labels[i].item())
            else:
                defended[i] = False
        return defended

    def __call__(self, images: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        images, labels = images.detach(), labels.detach()
        with torch.no_grad():
            correct = self._mean_scores(images, self.eot_attack_reps).argmax(1) == labels
        defended = self._verify(images, labels, correct, torch.ones_like(labels, dtype=torch.bool))
        result = images.clone()
        adv = images.clone()
        for step in range(self.steps + 1):
            adv.requires_grad_(True)
            scores = self._mean_scores(adv, self.eot_attack_reps)
            loss = F.cross_entropy(scores, labels)
            grad, = torch.autograd.grad(loss, adv)
            adv = adv.detach()
            newly_broken = defended & ~self._verify(adv, labels, scores.argmax(1).detach() == labels, defended)
            result[newly_broken] = adv[newly_broken]
            defended &= ~newly_broken
            if step == self.steps or not defended.any():
                break
            adv = adv + self.alpha * grad.sign()
            adv = torch.min(torch.max(adv, images - self.eps), images + self.eps).clamp(0, 1)
        result[defended] = adv[defended]
        return result


#: attacks composed here (registered in ``ATTACKS`` beside torchattacks' classes); built with ``.build(model)``
COMPOSED = (OriginalAutoAttack, BPDAEOT)


def resolve_attack(spec: dict[str, Any], num_classes: int) -> tuple[type, dict[str, Any], dict[str, Any]]:
    """(class, constructor kwargs, every parameter it runs with) for the attack ``spec`` names in ``ATTACKS``: a
    torchattacks class or one of :data:`COMPOSED`. ``eps`` is required wherever the attack takes one; ``n_classes``
    defaults to ``num_classes`` (torchattacks defaults it to 10, which is wrong for CIFAR-100)."""
    kwargs = dict(spec)
    kind = kwargs.pop("type", None)
    if kind is None:
        raise ValueError(f"attack spec {spec!r} needs a 'type' (a torchattacks class or one of "
                         f"{sorted(c.__name__ for c in COMPOSED)})")
    try:
        cls: Any = ATTACKS.get(kind)
    except UnknownNameError as error:
        raise ValueError(f"unknown attack type {kind!r}: {error}") from None
    params = inspect.signature(cls.__init__).parameters
    accepted = [n for n in params if n not in ("self", "model")]
    unknown = sorted(set(kwargs) - set(accepted))
    if unknown:
        raise ValueError(f"attack {kind}: unknown parameter(s) {unknown}; accepted: {accepted}")
    if "eps" in params and "eps" not in kwargs:
        raise ValueError(f"attack {kind}: pass eps explicitly (e.g. eps=8/255); library defaults differ between "
                         "torchattacks releases")
    if "n_classes" in params and "n_classes" not in kwargs:
        kwargs["n_classes"] = num_classes
    return cls, kwargs, {"type": kind, **_resolved(cls, kwargs)}


def build_attack(spec: dict[str, Any], model: nn.Module, num_classes: int) -> Any:
    """The attack ``spec`` names, on ``model`` (see :func:`resolve_attack`); call it as ``attack(images, labels)``."""
    cls, kwargs, _ = resolve_attack(spec, num_classes)
    if hasattr(cls, "build"):  # composed attacks take no model in the constructor; torchattacks' take it first
        return cls(**kwargs).build(model)
    return cls(model, **kwargs)
