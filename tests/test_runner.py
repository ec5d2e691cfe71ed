"""Runner: determinism, partial runs, crash-and-resume without recomputation, rescoring, validation."""
from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch

from bench.finite import NonFiniteError
from bench.registry import METHODS
from bench.results import read_results
from bench.runner import RunExistsError, evaluate, score, validate
from bench.store import SampleStore
from bench.config import config_hash
from bench.methods.classifier import TimmClassifier
from helpers import eval_config


@METHODS.register_module(force=True)
class CrashingClassifier(TimmClassifier):
    """TimmClassifier that records the samples it predicts and raises after ``crash_after`` batches.

    The switches are class attributes, not config keys, so the crashing and the resumed run share a config hash.
    """

    seen: list[str] = []
    calls = 0
    crash_after: int | None = None

    def predict(self, batch, seeds):
        type(self).calls += 1
        if self.crash_after is not None and type(self).calls > self.crash_after:
            raise RuntimeError("injected crash")
        type(self).seen.extend(batch["sample_id"])
        return super().predict(batch, seeds)


def stored(run_dir: Path, cfg) -> dict:
    return SampleStore(run_dir, config_hash(cfg)).load()


def test_run_writes_results_provenance_and_config(tmp_path: Path, digits_checkpoint: Path):
    cfg = eval_config(tmp_path / "run", digits_checkpoint)
    run_dir = evaluate(cfg, wandb_mode="disabled", progress=False)
    results = read_results(run_dir)
    assert results["status"] == "complete" and results["smoke"] is False
    assert results["samples"] == {"original": 500, "effective": 500, "limit": None}
    assert results["metrics"]["accuracy"] > 0.9  # a real learned result, not chance (0.1)
    prov = json.loads((run_dir / "provenance.json").read_text())
    assert prov["config_sha256"] == results["config_sha256"] == config_hash(cfg)
    assert prov["method"]["checkpoint"]["sha256"] and prov["dataset"]["fingerprint"]
    assert prov["world_size"] == 1 and prov["numerics"]["precision"] == "fp32"
    assert {"torch", "timm", "mmengine"} <= set(prov["packages"])
    assert (run_dir / "config.py").is_file()


def test_same_config_and_seed_give_identical_outputs(tmp_path: Path, digits_checkpoint: Path):
    a = evaluate(eval_config(tmp_path / "a", digits_checkpoint), wandb_mode="disabled", progress=False)
    b = evaluate(eval_config(tmp_path / "b", digits_checkpoint), wandb_mode="disabled", progress=False)
    assert read_results(a)["metrics"] == read_results(b)["metrics"]
    cfg = eval_config(tmp_path / "a", digits_checkpoint)
    sa, sb = stored(a, cfg), stored(b, cfg)
    assert sa["sample_id"] == sb["sample_id"]
    for column in ("seed", "logits", "target"):
        assert torch.equal(sa[column], sb[column]), column


def test_outputs_do_not_depend_on_batch_size(tmp_path: Path, digits_checkpoint: Path):
    a = evaluate(eval_config(tmp_path / "a", digits_checkpoint), wandb_mode="disabled", progress=False)
    b = evaluate(eval_config(tmp_path / "b", digits_checkpoint, **{"run.batch_size": 7}), wandb_mode="disabled",
                 progress=False)
    cfg = eval_config(tmp_path / "a", digits_checkpoint)
    sa, sb = stored(a, cfg), stored(b, cfg)
    assert torch.equal(sa["seed"], sb["seed"]), "per-sample seeds ignore batching"
    torch.testing.assert_close(sa["logits"], sb["logits"], rtol=0, atol=1e-5)  # CPU kernels vary per batch shape
    assert read_results(a)["metrics"]["accuracy"] == read_results(b)["metrics"]["accuracy"]


def test_train_seed_reaches_initialisation_and_shuffling(tmp_path: Path):
    from bench.config import load_config
    from bench.runner import train

    def weights(seed: int, name: str) -> dict:
        cfg = load_config("demo/harness_digits", {"train.epochs": 1, "train.seed": seed,
                                                  "run.work_dir": str(tmp_path / name)})
        checkpoint = torch.load(train(cfg), weights_only=True)
        assert checkpoint["meta"]["seed"] == seed, "the shuffling seed is the config's train.seed"
        return checkpoint["state_dict"]

    first, again, other = weights(0, "a"), weights(0, "b"), weights(1, "c")
    assert all(torch.equal(first[k], again[k]) for k in first)
    assert not all(torch.equal(first[k], other[k]) for k in first)


def test_limit_marks_the_run_partial(tmp_path: Path, digits_checkpoint: Path):
    run_dir = evaluate(eval_config(tmp_path / "p", digits_checkpoint, **{"run.limit": 20}), wandb_mode="disabled",
                       progress=False)
    results = read_results(run_dir)
    assert results["status"] == "partial"
    assert results["samples"] == {"original": 500, "effective": 20, "limit": 20}


def test_crash_then_resume_recomputes_nothing_and_matches_a_clean_run(tmp_path: Path, digits_checkpoint: Path):
    options = {"method.type": "CrashingClassifier", "run.batch_size": 50, "run.flush_every": 100}
    crashing = eval_config(tmp_path / "crash", digits_checkpoint, **options)
    CrashingClassifier.seen, CrashingClassifier.calls, CrashingClassifier.crash_after = [], 0, 5
    with pytest.raises(RuntimeError, match="injected crash"):
        evaluate(crashing, wandb_mode="disabled", progress=False)
    # 5 batches of 50 predicted; chunks of 100 flushed on the way, the rest flushed when the error unwound
    finished = SampleStore(tmp_path / "crash", config_hash(crashing)).finished_ids()
    assert finished == set(CrashingClassifier.seen) and len(finished) == 250

    with pytest.raises(RunExistsError, match="--resume"):
        evaluate(eval_config(tmp_path / "crash", digits_checkpoint, **options), wandb_mode="disabled", progress=False)

    CrashingClassifier.seen, CrashingClassifier.calls, CrashingClassifier.crash_after = [], 0, None
    resumed = evaluate(eval_config(tmp_path / "crash", digits_checkpoint, **options), resume=True,
                       wandb_mode="disabled", progress=False)
    assert not finished & set(CrashingClassifier.seen), "a finished sample was recomputed"
    assert len(CrashingClassifier.seen) == 250
    clean = evaluate(eval_config(tmp_path / "clean", digits_checkpoint, **options), wandb_mode="disabled",
                     progress=False)
    assert read_results(resumed)["metrics"] == read_results(clean)["metrics"]
    prov = json.loads((resumed / "provenance.json").read_text())
    assert prov["resumed_samples"] == 250 and prov["computed_samples_this_session"] == 250


def test_score_recomputes_metrics_from_stored_outputs(tmp_path: Path, digits_checkpoint: Path):
    run_dir = evaluate(eval_config(tmp_path / "s", digits_checkpoint), wandb_mode="disabled", progress=False)
    before = read_results(run_dir)["metrics"]
    (run_dir / "results.json").unlink()
    assert score(run_dir)["metrics"] == before


def test_a_failing_export_keeps_the_scores_and_is_recorded(tmp_path: Path, digits_checkpoint: Path, monkeypatch):
    from bench.registry import TASKS

    cfg = eval_config(tmp_path / "e", digits_checkpoint, **{"run.limit": 40})
    run_dir = evaluate(cfg, wandb_mode="disabled", progress=False)
    before = read_results(run_dir)
    assert "publish_errors" not in before

    def broken(self, outputs, directory, title=""):
        raise OSError("disk full")

    monkeypatch.setattr(TASKS.get(cfg.task.type), "write_figures", broken)
    (run_dir / "results.json").unlink()
    again = score(run_dir)
    written = read_results(run_dir)
    assert written["metrics"] == again["metrics"] == before["metrics"]
    assert written["publish_errors"] == {"figures": "OSError: disk full"} and written["figures"] == {}
    assert written["exports"] == before["exports"]


def test_score_refuses_an_unfinished_run(tmp_path: Path, digits_checkpoint: Path):
    run_dir = evaluate(eval_config(tmp_path / "u", digits_checkpoint), wandb_mode="disabled", progress=False)
    next(iter(sorted((run_dir / "samples").glob("*.pt")))).unlink()
    with pytest.raises(Exception, match="expected .* missing.*--resume"):
        score(run_dir)


def test_validate_builds_one_batch(digits_checkpoint: Path, tmp_path: Path):
    report = validate(eval_config(tmp_path / "v", digits_checkpoint, **{"run.batch_size": 4}))
    assert report["batch"] == 4 and report["outputs"] == {"logits": (4, 10), "target": (4,)}


POISON = {"digits-0747": math.nan, "digits-0630": math.inf}  # dataset indices 120 and 130: the third batch of 50


@pytest.fixture
def poisoned_logits(monkeypatch: pytest.MonkeyPatch) -> None:
    """The digits classifier with a NaN and an Inf logit for the two samples of ``POISON``."""
    original = TimmClassifier.predict

    def predict(self, batch, seeds):
        outputs = original(self, batch, seeds)
        for row, sample_id in enumerate(batch["sample_id"]):
            if sample_id in POISON:
                outputs["logits"][row, 3] = POISON[sample_id]
        return outputs

    monkeypatch.setattr(TimmClassifier, "predict", predict)


def strict_json(path: Path) -> dict:
    def refuse(constant: str):
        raise ValueError(f"{path}: bare {constant}")

    return json.loads(path.read_text(), parse_constant=refuse)


def test_nonfinite_outputs_stop_the_run_naming_the_samples_and_keep_those_before(
        tmp_path: Path, digits_checkpoint: Path, poisoned_logits: None):
    cfg = eval_config(tmp_path / "nan", digits_checkpoint, **{"run.batch_size": 50, "run.flush_every": 50})
    with pytest.raises(NonFiniteError, match=r"'logits': 2 sample\(s\) \(ids 'digits-0747', 'digits-0630'\).*"
                                             r"run\.nonfinite=flag"):
        evaluate(cfg, wandb_mode="disabled", progress=False)
    assert len(SampleStore(tmp_path / "nan", config_hash(cfg)).finished_ids()) == 100  # the two batches before
    assert not (tmp_path / "nan" / "results.json").exists()


def test_flag_policy_stores_them_and_marks_results_in_strict_json(tmp_path: Path, digits_checkpoint: Path,
                                                                  poisoned_logits: None):
    cfg = eval_config(tmp_path / "flag", digits_checkpoint, **{"run.nonfinite": "flag"})
    run_dir = evaluate(cfg, wandb_mode="disabled", progress=False)
    results = strict_json(run_dir / "results.json")
    assert results["status"] == "flagged"
    assert results["nonfinite"] == {"logits": {"count": 2, "sample_ids": ["digits-0747", "digits-0630"]}}
    assert results["metrics"] == {"accuracy": None, "nll": None, "ece_15": None}
    assert results["nonfinite_metrics"] == ["accuracy", "ece_15", "nll"]
    assert set(results["refused_metrics"]) == {"accuracy", "ece_15", "nll"}
    assert "2 of 500 samples" in results["refused_metrics"]["ece_15"]
    strict_json(run_dir / "provenance.json")

    assert score(run_dir)["nonfinite"] == results["nonfinite"]  # rebuilt from the store: `bench score` sees it
    with pytest.raises(NonFiniteError, match=r"2 sample\(s\) .*'digits-0747'.*config\.py"):
        score(run_dir, cfg=eval_config(tmp_path / "flag", digits_checkpoint))  # the default policy refuses


@pytest.mark.parametrize("name", ["demo/diffact_generated", "demo/difftriplet_generated"])
def test_validate_checks_a_training_config_with_its_untrained_model(name: str):
    from bench.config import load_config
    from bench.results import train_dir_for

    cfg = load_config(name)
    report = validate(cfg)  # the checkpoint its train stage produces does not exist
    assert report["weights"] == ("untrained (the train stage produces the checkpoint: `bench train` or `bench run` "
                                 f"trains into {train_dir_for(cfg)})")
    assert report["train_samples"] > 0 and report["batch"] == 1
    assert set(report["outputs"]) >= ({"prediction", "target"} if "diffact" in name else
                                      {"triplet_scores", "triplet_target"})
    assert not train_dir_for(cfg).exists()  # validating trains nothing


def test_the_train_stage_trains_with_the_settings_its_folder_is_keyed_by(monkeypatch):
    from bench.config import load_config
    from bench.results import train_dir_for
    from bench.runner import train

    received = {}

    def fit(self, train_set, val_set, work_dir, device, resume=True, **train_cfg):
        received.update(train_cfg, work_dir=work_dir, torch_draw=torch.rand(1))
        (work_dir / "final.pth").parent.mkdir(parents=True, exist_ok=True)
        torch.save({}, work_dir / "final.pth")
        return work_dir / "final.pth"

    monkeypatch.setattr(TimmClassifier, "fit", fit)
    cfg = load_config("demo/harness_digits", {"run.seed": 5})
    cfg.train.pop("seed")
    assert train(cfg) == train_dir_for(cfg) / "final.pth"
    assert received["seed"] == 5 and received["work_dir"] == train_dir_for(cfg)
    torch.manual_seed(5)
    assert torch.equal(received["torch_draw"], torch.rand(1))  # the globals were seeded with it
