"""The IDC method adapter (bench.methods.idc.adapter): predictions, attack views and the robustness task."""
from __future__ import annotations

import json

import pytest
import torch
import torch.nn.functional as F

from bench.config import load_config
from bench.methods.idc import IDC
from bench.methods.idc.label_images import label_distances
from bench.runner import evaluate

from idc_fixture import TINY_UNET


def tiny_idc(**options) -> IDC:
    method = IDC(num_classes=10, preset=None, unet=TINY_UNET, input_size=8, **options)
    method.setup(torch.device("cpu"), seed=0)
    return method


def digits_batch(n: int = 4) -> dict:
    from bench.datasets.digits import Digits

    data = Digits(split="test")
    return {"image": data.images[:n], "target": data.targets[:n]}


def test_predict_scores_minus_distance_over_tau_and_is_batch_independent():
    method = tiny_idc()
    batch = digits_batch()
    seeds = torch.tensor([5, 6, 7, 8])
    out = method.predict(batch, seeds)
    torch.testing.assert_close(out["logits"], -out["distances"] / 0.1)
    again = method.predict({"image": batch["image"][2:3], "target": batch["target"][2:3]}, seeds[2:3])
    torch.testing.assert_close(again["logits"], out["logits"][2:3], rtol=0, atol=1e-4)
    other_seed = method.predict(batch, seeds + 1)["logits"]
    assert not torch.equal(other_seed, out["logits"])  # eta = 1: the noise matters


def test_grey_images_are_repeated_and_resized():
    method = IDC(num_classes=10, preset=None, unet={**TINY_UNET, "image_size": 16}, input_size=16)
    x = torch.rand(2, 1, 8, 8)
    out = method.preprocess(x)
    assert out.shape == (2, 3, 16, 16)
    torch.testing.assert_close(out[:, 0], F.interpolate(x, size=16, mode="bilinear", align_corners=False)[:, 0])
    with pytest.raises(ValueError, match="image_size"):
        IDC(num_classes=10, preset="cifar10", input_size=16)


def test_paper_view_is_the_official_wrapper_with_frozen_noise():
    method = tiny_idc()
    x = digits_batch()["image"]
    view = method.attack_model("paper")
    torch.manual_seed(123)
    state = torch.get_rng_state()
    probs = view(x)
    assert torch.equal(torch.get_rng_state(), state)  # the global RNG is left as found
    torch.testing.assert_close(view(x), probs, rtol=0, atol=0)  # frozen noise: the same output every forward
    # the wrapper's recipe by hand: seed 0, the CPU label-image draw, then sampling with the global RNG
    with torch.random.fork_rng():
        torch.manual_seed(0)
        torch.randn(10, 3 * 8 * 8)
        translated = method.model.translate(method.preprocess(x), True)
    expected = F.softmax(-label_distances(translated, method.labels) / 0.1, dim=1)
    torch.testing.assert_close(probs, expected, rtol=0, atol=0)
    assert torch.allclose(probs.sum(1), torch.ones(4))


def test_logits_view_is_stochastic_log_probabilities():
    method = tiny_idc()
    x = digits_batch()["image"]
    view = method.attack_model("logits")
    torch.manual_seed(0)
    first = view(x)
    second = view(x)
    assert not torch.equal(first, second)
    torch.testing.assert_close(first.exp().sum(1), torch.ones(4))
    with pytest.raises(ValueError, match="paper"):
        method.attack_model("probs")


def test_attacks_get_gradients_through_the_bridge():
    method = tiny_idc()
    x = digits_batch()["image"].clone().requires_grad_(True)
    loss = F.nll_loss(method.attack_model("logits")(x), digits_batch()["target"])
    grad, = torch.autograd.grad(loss, x)
    assert grad.shape == x.shape and grad.abs().sum() > 0


def test_robustness_run_counts_every_sample_and_is_deterministic(tmp_path):
    def config(work_dir):
        cfg = load_config("demo/idc_digits", {"run.work_dir": str(work_dir), "run.limit": 12, "run.batch_size": 5,
                                              "method.input_size": 8, "method.unet.image_size": 8,
                                              "method.unet.channel_mult": (1,)})
        cfg.pop("train")
        cfg.task.attacks = dict(fgsm=dict(type="FGSM", eps=0.05),
                                pgd_logits=dict(type="PGD", eps=0.05, alpha=0.02, steps=2, random_start=True,
                                                view="logits"))
        return cfg

    first = json.loads((evaluate(config(tmp_path / "a")) / "results.json").read_text())
    second = json.loads((evaluate(config(tmp_path / "b")) / "results.json").read_text())
    assert first["samples"]["effective"] == 12 and first["status"] == "partial"
    assert first["metrics"] == second["metrics"]
    assert first["metrics"]["max linf (fgsm)"] == pytest.approx(0.05, abs=1e-6)
    assert first["evaluation"]["attacks"]["pgd_logits"]["view"] == "logits"
    assert first["evaluation"]["attacks"]["fgsm"]["view"] == "paper"


def idc_demo_metrics(clean: float, robust: dict[str, float], success: dict[str, float]) -> dict[str, float]:
    return {"clean accuracy": clean, **{f"robust accuracy ({a})": v for a, v in robust.items()},
            **{f"attack success rate ({a})": v for a, v in success.items()}}


def test_demo_summary_compares_idc_with_the_cnn_and_the_share_lost_under_attack():
    from bench.registry import DEMOS

    summarize = DEMOS.get("idc")
    cnn = {"metrics": idc_demo_metrics(0.986, {"fgsm": 0.864, "pgd": 0.82}, {"fgsm": 0.124, "pgd": 0.168}),
           "run_dir": "/r/cnn"}
    # the full demo's numbers (README): the CNN is more accurate, IDC loses a smaller share
    idc = {"metrics": idc_demo_metrics(0.852, {"fgsm": 0.772, "pgd": 0.772}, {"fgsm": 0.094, "pgd": 0.094}),
           "run_dir": "/r/idc", "figures": {"f": "figures/f.png"}}
    summary = summarize({"idc_digits": idc, "idc_peer_cnn": cnn})
    assert summary.headline == {"IDC clean acc.": 0.852, "IDC PGD acc.": 0.772, "CNN clean acc.": 0.986,
                                "CNN PGD acc.": 0.82}
    assert "clean 85.2% vs 98.6%, FGSM 77.2% vs 86.4%, PGD 77.2% vs 82.0%" in summary.sentence
    assert "attack success rates FGSM 9.4% vs 12.4%, PGD 9.4% vs 16.8%" in summary.sentence
    assert "IDC loses a smaller share" in summary.sentence and "CNN stays more accurate" in summary.sentence
    assert summary.figures == ["/r/idc/figures/f.png"]
    broken = {"metrics": idc_demo_metrics(0.852, {"fgsm": 0.7, "pgd": 0.6}, {"fgsm": 0.094, "pgd": 0.3}),
              "run_dir": "/r/idc"}
    assert summarize({"idc_digits": broken, "idc_peer_cnn": cnn}).sentence.endswith(
        "does not lose a smaller share: does not reproduce the paper's effect at this scale.")
    strong = {"metrics": idc_demo_metrics(0.99, {"fgsm": 0.95, "pgd": 0.9}, {"fgsm": 0.04, "pgd": 0.09}),
              "run_dir": "/r/idc"}
    sentence = summarize({"idc_digits": strong, "idc_peer_cnn": cnn}).sentence
    assert "more accurate and more robust than the CNN" in sentence
    with pytest.raises(KeyError, match=r"needs the runs \['idc_peer_cnn'\]"):
        summarize({"idc_digits": idc})
