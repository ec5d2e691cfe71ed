"""The robustness task: clean and adversarial predictions per sample, for any classifier adapter.

A method joins by implementing ``Method.attack_model(view)``: a differentiable module from the dataset's images
(``batch[image_key]``, pixels in [0, 1]) to class scores. The attacks see that module; the stored predictions come
from the method's own ``predict`` on the clean and on the adversarial images with the same per-sample seeds, so a
stochastic defence is judged by the same draws it is evaluated with. Each attack's random start is seeded from
its batch (sha256 of the batch's sample seeds and the attack name), so a run is deterministic for a given batch
size; the batch size is recorded because attacks act on whole batches.
"""
from __future__ import annotations

import hashlib
from collections.abc import Collection
from typing import Any

import torch

from bench.finite import nonfinite_mask
from bench.tasks.robustness.attacks import build_attack, library_version, resolve_attack
from bench.method import Method
from bench.metrics.robustness import ADV_PREFIX, LINF_PREFIX
from bench.registry import TASKS
from bench.store import Columns
from bench.tasks.base import EvalTask
from bench.throughput import count_macs, count_parameters



def predicted_class(outputs: Columns) -> torch.Tensor:
    """A method's class decision: its ``prediction`` column, else the argmax of ``logits``/``probs``."""
    if "prediction" in outputs:
        return torch.as_tensor(outputs["prediction"]).long()
    scores = outputs["logits"] if "logits" in outputs else outputs["probs"]
    return scores.argmax(dim=1)


def nonfinite_scores(outputs: Columns, rows: int) -> torch.Tensor:
    """Bool [rows]: samples whose ``logits``/``probs`` (what :func:`predicted_class` took the argmax of) hold a NaN
    or ±Inf, so a class picked from them is not silently counted."""
    masks = [nonfinite_mask(outputs[name]) for name in ("logits", "probs") if name in outputs]
    found = torch.zeros(rows, dtype=torch.bool)
    for mask in masks:
        if mask is not None:
            found |= mask.cpu()
    return found


def attack_seed(seeds: torch.Tensor, name: str) -> int:
    digest = hashlib.sha256(",".join(str(int(s)) for s in seeds).encode() + b":" + name.encode())
    return int(digest.hexdigest()[:15], 16)


@TASKS.register_module(name="robustness")
class RobustnessTask(EvalTask):
    """Clean accuracy and robust accuracy under each attack in ``attacks`` (name -> spec, see
    :func:`bench.tasks.robustness.attacks.build_attack`; a spec may name its own ``view``). ``view`` is what the
    attacked module outputs (``Method.attack_model``): e.g. IDC's ``"paper"`` wrapper or ``"logits"``. Stored per
    sample: ``target``, ``clean_prediction``, ``adv_prediction.<name>``, ``linf.<name>`` (the perturbation's L∞ norm,
    so the budget is checked on the data), ``nonfinite_scores`` (how many of the clean and adversarial score rows the
    predictions came from held NaN/Inf: non-zero rows are reported by the run's non-finite check), and the attacked
    model's ``params`` and ``macs`` per image."""

    NONFINITE_COLUMN = "nonfinite_scores"

    required_outputs = ("target", "clean_prediction")
    default_metrics = ({"type": "RobustAccuracy"}, {"type": "ModelCost"})

    def __init__(self, attacks: dict[str, dict[str, Any]], num_classes: int, view: str = "logits",
                 image_key: str = "image", metrics: list[dict[str, Any]] | None = None) -> None:
        super().__init__(metrics)
        if not attacks:
            raise ValueError("robustness task: name at least one attack in task.attacks")
        bad = [name for name in attacks if not name or "." in name]
        if bad:
            raise ValueError(f"robustness task: attack names must be non-empty and contain no '.': {bad}")
        self.attacks = {name: dict(spec) for name, spec in attacks.items()}
        self.num_classes, self.view, self.image_key = num_classes, view, image_key
        self._resolved = {name: {"view": self._view(name)[0], **resolve_attack(self._view(name)[1], num_classes)[2]}
                          for name in self.attacks}  # also checks every spec before any sample is attacked
        self._cost: dict[str, int] = {}

    def _view(self, name: str) -> tuple[str, dict[str, Any]]:
        spec = dict(self.attacks[name])
        return spec.pop("view", self.view), spec

    def predict(self, method: Method, batch: dict[str, Any], seeds: torch.Tensor) -> Columns:
        clean = method.predict(batch, seeds)
        target = torch.as_tensor(batch["target"]).long()
        out: Columns = {"target": target, "clean_prediction": predicted_class(clean).cpu()}
        nonfinite = nonfinite_scores(clean, len(target)).long()
        images = batch[self.image_key]
        for name in self.attacks:
            view, spec = self._view(name)
            # eval mode: torchattacks restores the mode it finds, and a fresh wrapper module starts in train mode,
            # which would leave the method's BatchNorm layers training on the predictions that follow
            model = method.attack_model(view).eval()
            device = next(model.parameters()).device
            with torch.inference_mode(False), torch.enable_grad():
                x = images.clone().to(device).float()  # a normal tensor: the runner's batch is an inference one
                y = target.clone().to(device)
                attack = build_attack(spec, model, self.num_classes)
                if not self._cost:
                    self._cost = {"params": count_parameters(model), "macs": count_macs(model, x[:1])}
                with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
                    torch.manual_seed(attack_seed(seeds, name))
                    adv = attack(x, y).detach()
            adv_outputs = method.predict({**batch, self.image_key: adv.to(images.device)}, seeds)
            out[ADV_PREFIX + name] = predicted_class(adv_outputs).cpu()
            nonfinite += nonfinite_scores(adv_outputs, len(target)).long()
            out[LINF_PREFIX + name] = (adv - x).flatten(1).abs().amax(dim=1).cpu()
        n = len(target)
        out[self.NONFINITE_COLUMN] = nonfinite
        out["params"] = torch.full((n,), self._cost["params"], dtype=torch.int64)
        out["macs"] = torch.full((n,), self._cost["macs"], dtype=torch.int64)
        return out

    def finite_columns(self, available: Collection[str]) -> list[str]:
        """Every attack's L∞ column and the count of non-finite score rows."""
        return [name for name in available if name.startswith(LINF_PREFIX) or name == self.NONFINITE_COLUMN]

    def nonfinite_masks(self, block: Columns) -> dict[str, torch.Tensor]:
        """The L∞ columns' non-finite rows, and the samples predicted from non-finite scores."""
        masks = super().nonfinite_masks(block)
        if self.NONFINITE_COLUMN in block:
            masks[self.NONFINITE_COLUMN] = torch.as_tensor(block[self.NONFINITE_COLUMN]) > 0
        return masks

    def describe(self) -> dict[str, Any]:
        return {"attack_library": library_version(), "attacks": self._resolved}
