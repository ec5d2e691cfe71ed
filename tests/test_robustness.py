"""The robustness task, its metrics and attack construction (bench.tasks.robustness.task,
bench.tasks.robustness.attacks, bench.metrics.robustness)."""
from __future__ import annotations

import json
import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from bench.tasks.robustness.attacks import BPDAEOT, build_attack, resolve_attack
from bench.metrics.robustness import RobustAccuracy
from bench.tasks.robustness.task import RobustnessTask, attack_seed, predicted_class
from bench.runner import evaluate

from helpers import eval_config


class Linear(nn.Module):
    def __init__(self, weight: torch.Tensor) -> None:
        super().__init__()
        self.fc = nn.Linear(weight.shape[1], weight.shape[0], bias=False)
        with torch.no_grad():
            self.fc.weight.copy_(weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(x.flatten(1))


def linear_model(seed: int = 0, classes: int = 3, features: int = 8) -> Linear:
    return Linear(torch.randn(classes, features, generator=torch.Generator().manual_seed(seed)))


def test_robust_accuracy_counts_clean_and_adversarial_correct_over_all_samples():
    outputs = {"target": torch.tensor([0, 1, 2, 0, 1]), "clean_prediction": torch.tensor([0, 1, 0, 0, 2]),
               "adv_prediction.pgd": torch.tensor([0, 0, 2, 0, 1]), "linf.pgd": torch.tensor([0.1, 0.2, 0.0, 0.3, 0.1])}
    values = RobustAccuracy().compute(outputs)
    # clean correct: 0, 1, 3 (3/5); adversarial correct: 0, 2, 3, 4; both: 0, 3 -> 2/5, not the 4/5 of adv alone
    assert values["clean accuracy"] == pytest.approx(0.6)
    assert values["robust accuracy (pgd)"] == pytest.approx(0.4)
    assert values["attack success rate (pgd)"] == pytest.approx(1 / 3)
    assert values["max linf (pgd)"] == pytest.approx(0.3)
    with pytest.raises(KeyError, match="adv_prediction"):
        RobustAccuracy().check({"target": outputs["target"], "clean_prediction": outputs["clean_prediction"]})


def test_predicted_class_prefers_an_explicit_prediction_column():
    logits = torch.tensor([[0.0, 2.0], [3.0, 1.0]])
    assert predicted_class({"logits": logits}).tolist() == [1, 0]
    assert predicted_class({"probs": logits.softmax(1)}).tolist() == [1, 0]
    assert predicted_class({"logits": logits, "prediction": torch.tensor([0, 0])}).tolist() == [0, 0]


def test_attack_specs_need_eps_and_get_the_task_class_count():
    with pytest.raises(ValueError, match="pass eps explicitly"):
        resolve_attack({"type": "AutoAttack"}, num_classes=100)
    with pytest.raises(ValueError, match="Did you mean 'PGD'"):
        resolve_attack({"type": "PDG", "eps": 0.1}, num_classes=10)
    with pytest.raises(ValueError, match="unknown parameter"):
        resolve_attack({"type": "PGD", "eps": 0.1, "stpes": 3}, num_classes=10)
    _, kwargs, resolved = resolve_attack({"type": "AutoAttack", "eps": 8 / 255}, num_classes=100)
    assert kwargs == {"eps": 8 / 255, "n_classes": 100}
    # every parameter is recorded, defaults included (torchattacks 3.5.1's AutoAttack: Linf, standard)
    assert resolved == {"type": "AutoAttack", "norm": "Linf", "eps": 8 / 255, "version": "standard",
                        "n_classes": 100, "seed": None, "verbose": False}


def test_fgsm_applies_eps_exactly_as_the_direct_formula():
    model = linear_model()
    x = torch.rand(4, 8, generator=torch.Generator().manual_seed(1)) * 0.5 + 0.25  # far from the [0, 1] box
    y = torch.tensor([0, 1, 2, 0])
    eps = 8 / 255
    adv = build_attack({"type": "FGSM", "eps": eps}, model, num_classes=3)(x, y)
    xg = x.clone().requires_grad_(True)
    grad, = torch.autograd.grad(F.cross_entropy(model(xg), y), xg)
    torch.testing.assert_close(adv, (x + eps * grad.sign()).clamp(0, 1), rtol=0, atol=1e-7)
    assert (adv - x).abs().amax().item() == pytest.approx(eps, abs=1e-7)


def test_original_autoattack_uses_the_original_iteration_counts():
    model = linear_model(classes=100)
    standard = build_attack({"type": "OriginalAutoAttack", "eps": 8 / 255}, model, num_classes=100)
    apgd, apgdt, fab, square = standard.attacks
    assert (apgd.steps, apgd.loss, apgdt.steps, fab.steps, fab.multi_targeted) == (100, "ce", 100, 100, True)
    assert (apgdt.n_target_classes, fab.n_target_classes, square.n_queries) == (9, 9, 5000)
    assert all(a.eps == 8 / 255 and a.n_restarts == 1 for a in standard.attacks)
    rand = build_attack({"type": "OriginalAutoAttack", "eps": 8 / 255, "version": "rand"}, model, num_classes=100)
    assert [(a.loss, a.steps, a.eot_iter) for a in rand.attacks] == [("ce", 100, 20), ("dlr", 100, 20)]


def test_bpda_eot_without_randomness_is_sign_gradient_pgd_stopping_per_sample():
    model = linear_model(seed=3)
    x = torch.rand(5, 8, generator=torch.Generator().manual_seed(2))
    y = model(x).argmax(1)  # all clean-correct
    eps, alpha, steps = 0.05, 0.01, 7
    adv = BPDAEOT(eps=eps, alpha=alpha, steps=steps, eot_attack_reps=3, eot_defense_reps=4).build(model)(x, y)
    expected = x.clone()
    for i in range(len(x)):  # the same loop written per sample: stop at the first iterate that is misclassified
        xi, yi = x[i:i + 1], y[i:i + 1]
        cur = xi.clone()
        for step in range(steps + 1):
            cur.requires_grad_(True)
            logits = model(cur)
            grad, = torch.autograd.grad(F.cross_entropy(logits, yi), cur)
            cur = cur.detach()
            if logits.argmax(1).item() != yi.item() or step == steps:
                break
            cur = torch.min(torch.max(cur + alpha * grad.sign(), xi - eps), xi + eps).clamp(0, 1)
        expected[i] = cur[0]
    # batch-mean CE scales each sample's gradient by 1/B: the sign, and so every iterate, is unchanged
    torch.testing.assert_close(adv, expected, rtol=0, atol=1e-6)
    assert (adv - x).abs().amax() <= eps + 1e-6


def test_attack_seed_depends_on_the_batch_and_the_attack():
    seeds = torch.tensor([11, 12])
    assert attack_seed(seeds, "pgd") == attack_seed(seeds.clone(), "pgd")
    assert attack_seed(seeds, "pgd") != attack_seed(seeds, "fgsm")
    assert attack_seed(seeds, "pgd") != attack_seed(torch.tensor([11, 13]), "pgd")


def test_task_refuses_bad_attack_names_and_specs():
    with pytest.raises(ValueError, match="at least one attack"):
        RobustnessTask(attacks={}, num_classes=10)
    with pytest.raises(ValueError, match="no '.'"):
        RobustnessTask(attacks={"a.b": {"type": "FGSM", "eps": 0.1}}, num_classes=10)
    with pytest.raises(ValueError, match="pass eps"):
        RobustnessTask(attacks={"pgd": {"type": "PGD"}}, num_classes=10)


def _robustness_config(work_dir, checkpoint, attacks):
    cfg = eval_config(work_dir, checkpoint, **{"run.batch_size": 64, "run.limit": 130})
    cfg.task = dict(type="robustness", num_classes=10, attacks=attacks)
    return cfg


def test_runner_end_to_end_on_digits(tmp_path, digits_checkpoint):
    attacks = {"none": dict(type="FGSM", eps=0.0), "fgsm": dict(type="FGSM", eps=0.1),
               "pgd": dict(type="PGD", eps=0.1, alpha=0.025, steps=5, random_start=True)}
    run_dir = evaluate(_robustness_config(tmp_path / "a", digits_checkpoint, attacks))
    result = json.loads((run_dir / "results.json").read_text())
    m = result["metrics"]
    # eps = 0 changes nothing (so the attack left the model in eval mode); the budget really applies (max L-inf
    # equals eps); PGD is at least as strong as FGSM
    assert m["robust accuracy (none)"] == m["clean accuracy"] > 0.85
    assert m["max linf (none)"] == 0.0
    assert m["max linf (fgsm)"] == pytest.approx(0.1, abs=1e-6) and m["max linf (pgd)"] <= 0.1 + 1e-6
    assert m["robust accuracy (pgd)"] <= m["robust accuracy (fgsm)"] < m["clean accuracy"]
    assert m["params (M)"] > 0 and m["GMACs per image"] > 0
    assert result["samples"]["effective"] == 130  # the 2-sample tail batch counted too
    described = result["evaluation"]
    assert described["attacks"]["pgd"] == {"view": "logits", "type": "PGD", "eps": 0.1, "alpha": 0.025, "steps": 5,
                                           "random_start": True}
    assert described["attack_library"] == "torchattacks 3.5.1"
    again = json.loads((evaluate(_robustness_config(tmp_path / "b", digits_checkpoint, attacks)) / "results.json")
                       .read_text())
    assert again["metrics"] == m  # seeded random starts: the same numbers twice
    assert not math.isnan(m["attack success rate (pgd)"])


def test_predictions_from_nonfinite_scores_and_nonfinite_linf_are_reported():
    task = RobustnessTask(attacks={"fgsm": {"type": "FGSM", "eps": 0.1}}, num_classes=3)
    table = {"sample_id": ["a", "b", "c"], "target": torch.tensor([0, 1, 2]),
             "clean_prediction": torch.tensor([0, 1, 2]), "adv_prediction.fgsm": torch.tensor([0, 1, 2]),
             "linf.fgsm": torch.tensor([0.1, float("nan"), 0.1]), "nonfinite_scores": torch.tensor([0, 0, 2])}
    assert task.nonfinite(table) == {"linf.fgsm": {"count": 1, "sample_ids": ["b"]},
                                     "nonfinite_scores": {"count": 1, "sample_ids": ["c"]}}
    from bench.tasks.robustness.task import nonfinite_scores

    scores = {"logits": torch.tensor([[1.0, 2.0], [float("nan"), 0.0], [0.0, float("-inf")]])}
    assert nonfinite_scores(scores, 3).tolist() == [False, True, True]
