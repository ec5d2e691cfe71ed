"""Runner: determinism, partial runs, crash-and-resume without recomputation, rescoring, validation."""
from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch

from bench.registry import METHODS
from bench.results import read_results
from bench.config import config_hash
from bench.finite import NonFiniteError
from bench.runner import RunExistsError, evaluate, score, validate
from bench.store import SampleStore, StoreError
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
    crash: type[BaseException] = RuntimeError

    def predict(self, batch, seeds):
        type(self).calls += 1
        if self.crash_after is not None and type(self).calls > self.crash_after:
            raise self.crash("injected crash")
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


def cheap(tmp_path: Path, checkpoint: Path, name: str, **options):  # noqa: ANN201 - an mmengine Config
    """The first 60 digits in batches of 10, a chunk every 20: three chunks in about a second."""
    return eval_config(tmp_path / name, checkpoint, **{"method.type": "CrashingClassifier", "run.limit": 60,
                                                        "run.batch_size": 10, "run.flush_every": 20, **options})


def run(cfg, **kwargs) -> Path:  # noqa: ANN001
    return evaluate(cfg, wandb_mode="disabled", progress=False, **kwargs)


def reset_crashing(crash_after: int | None = None, crash: type[BaseException] = RuntimeError) -> None:
    CrashingClassifier.seen, CrashingClassifier.calls, CrashingClassifier.crash_after = [], 0, crash_after
    CrashingClassifier.crash = crash


HOLD = ("import sys\nfrom bench.runlock import run_lock\n"
        "with run_lock(sys.argv[1]):\n    print('held', flush=True)\n    sys.stdin.readline()\n")


def test_a_second_process_into_a_run_folder_is_refused_before_computing(tmp_path: Path, digits_checkpoint: Path):
    import subprocess
    import sys

    from bench.runlock import RunLockedError

    reset_crashing()
    run_dir = run(cheap(tmp_path, digits_checkpoint, "r"))
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(run_dir)], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline() == "held\n"
        reset_crashing()
        for attempt in (lambda: run(cheap(tmp_path, digits_checkpoint, "r"), resume=True), lambda: score(run_dir)):
            with pytest.raises(RunLockedError, match=rf"{run_dir} is in use by another run.* \(pid {holder.pid} on "):
                attempt()
        assert CrashingClassifier.seen == []
    finally:
        holder.stdin.close()
        holder.wait()


def test_ctrl_c_stores_what_was_computed_and_the_cli_says_how_to_resume(tmp_path: Path, digits_checkpoint: Path,
                                                                       capsys: pytest.CaptureFixture):
    import signal

    from bench.cli import main
    from test_dist import write_config

    config = write_config(tmp_path / "int.py", tmp_path / "int", digits_checkpoint)
    handler = signal.getsignal(signal.SIGTERM)
    reset_crashing(crash_after=3, crash=KeyboardInterrupt)
    code = main(["run", str(config), "--no-wandb", "--no-progress", "--cfg-options", "method.type=CrashingClassifier",
                 "run.limit=60", "run.batch_size=10", "run.flush_every=20"])
    assert code == 130 and signal.getsignal(signal.SIGTERM) is handler
    assert capsys.readouterr().err.strip().splitlines()[-1] == (
        f"bench run: interrupted by SIGINT: 30 samples are stored in {tmp_path}/int/samples; resume with "
        f"`bench run {tmp_path}/int/config.py --resume --work-dir {tmp_path}/int`")
    assert len(CrashingClassifier.seen) == 30  # one chunk of 20 written on the way, the pending 10 on the way out


def test_a_work_dir_that_is_a_file_is_refused_before_computing(tmp_path: Path, digits_checkpoint: Path):
    from bench.runlock import RunFolderError

    (tmp_path / "taken").write_text("not a folder")
    reset_crashing()
    with pytest.raises(RunFolderError, match=r"taken is a file, not a folder.*another --work-dir"):
        run(cheap(tmp_path, digits_checkpoint, "taken"))
    assert CrashingClassifier.seen == []


@pytest.mark.parametrize("limit", [0, -3])
def test_a_limit_below_one_is_refused(tmp_path: Path, digits_checkpoint: Path, limit: int):
    from bench.config import ConfigError

    expected = rf"run.limit must be None \(every sample\) or a positive integer, got {limit}"
    with pytest.raises(ConfigError, match=expected):
        run(cheap(tmp_path, digits_checkpoint, "l", **{"run.limit": limit}))
    assert not (tmp_path / "l").exists()


def test_score_and_resume_repair_a_store_with_duplicates(tmp_path: Path, digits_checkpoint: Path):
    import shutil

    reset_crashing()
    run_dir = run(cheap(tmp_path, digits_checkpoint, "d"))
    before = read_results(run_dir)["metrics"]
    chunks = sorted((run_dir / "samples").glob("*.pt"))
    twin = chunks[1].with_name(chunks[1].name.replace("-000001", "-000009"))  # a second writer's copy, later by name
    shutil.copy(chunks[1], twin)
    with pytest.raises(StoreError, match="stored twice"):
        stored(run_dir, cheap(tmp_path, digits_checkpoint, "d"))
    assert score(run_dir)["metrics"] == before
    prov = json.loads((run_dir / "provenance.json").read_text())
    [repair] = prov["store_repairs"]
    assert repair["duplicates_dropped"] == 20 and repair["quarantined"] == [twin.name]
    assert sorted(p.name for p in (run_dir / "samples" / "quarantine").iterdir()) == [twin.name]
    shutil.copy(chunks[0], twin)  # again, then --resume: repaired, nothing recomputed
    reset_crashing()
    resumed = run(cheap(tmp_path, digits_checkpoint, "d"), resume=True)
    assert CrashingClassifier.seen == [] and read_results(resumed)["metrics"] == before
    prov = json.loads((run_dir / "provenance.json").read_text())
    assert len(prov["store_repairs"]) == 2
    assert len(prov["sessions"]) == 2 and prov["numerics_mixed"] is False  # same settings: not mixed


def test_resume_after_a_corrupt_chunk_recomputes_exactly_its_samples(tmp_path: Path, digits_checkpoint: Path):
    reset_crashing()
    cfg = cheap(tmp_path, digits_checkpoint, "c")
    run_dir = run(cfg)
    before = read_results(run_dir)["metrics"]
    store = SampleStore(run_dir, config_hash(cfg))
    bad = store.chunk_paths()[1]
    lost = list(store._read(bad)["sample_id"])
    bad.write_bytes(bad.read_bytes()[:1000])  # truncated
    with pytest.raises(StoreError, match=rf"{bad} is not a readable chunk"):
        store.finished_ids()
    reset_crashing()
    resumed = run(cheap(tmp_path, digits_checkpoint, "c"), resume=True)
    assert CrashingClassifier.seen == lost and len(lost) == 20
    assert read_results(resumed)["metrics"] == before
    repair = json.loads((run_dir / "provenance.json").read_text())["store_repairs"][0]
    assert list(repair["unreadable"]) == [bad.name] and repair["duplicates_dropped"] == 0
    assert (run_dir / "samples" / "quarantine" / bad.name).stat().st_size == 1000


def test_a_write_failure_loses_no_sample(tmp_path: Path, digits_checkpoint: Path, monkeypatch):
    import errno

    from bench import store as store_module
    from bench.store import StoreWriteError

    real_save, writes = store_module.atomic_torch_save, []
    run_dir = tmp_path / "w"

    def fills_up(path, obj):
        if Path(path).parent == run_dir / "samples":
            writes.append(path)
            if len(writes) > 1:
                raise OSError(errno.ENOSPC, "No space left on device")
        return real_save(path, obj)

    monkeypatch.setattr(store_module, "atomic_torch_save", fills_up)
    monkeypatch.setenv("BENCH_RESCUE_DIR", str(tmp_path / "rescue"))
    reset_crashing()
    with pytest.raises(StoreWriteError) as failed:
        run(cheap(tmp_path, digits_checkpoint, "w"))
    computed = list(CrashingClassifier.seen)
    rescue = tmp_path / "rescue" / "w"
    message = str(failed.value)
    assert message.startswith(f"could not write to {run_dir / 'samples'} (No space left on device): 20 samples are "
                              f"stored there and 20 were rescued to {rescue}. Free space")
    assert len(computed) == 40, "the run stops at the first failed write"
    move = message.split("`")[1]
    assert move.startswith(f"mv {rescue}/") and f"--resume --work-dir {run_dir}" in move

    monkeypatch.setattr(store_module, "atomic_torch_save", real_save)  # space freed
    for chunk in rescue.glob("*.pt"):
        chunk.rename(run_dir / "samples" / chunk.name)
    cfg = cheap(tmp_path, digits_checkpoint, "w")
    assert SampleStore(run_dir, config_hash(cfg)).finished_ids() == set(computed)
    reset_crashing()
    resumed = run(cfg, resume=True)
    assert len(CrashingClassifier.seen) == 20 and not set(CrashingClassifier.seen) & set(computed)
    assert read_results(resumed)["samples"]["effective"] == 60
    assert SampleStore(run_dir, config_hash(cfg)).load(columns=())["index"].tolist() == list(range(60))


def test_score_needs_no_dataset_once_the_ids_are_recorded(tmp_path: Path, digits_checkpoint: Path, monkeypatch):
    from bench import runner

    reset_crashing()
    run_dir = run(cheap(tmp_path, digits_checkpoint, "n"))
    before = read_results(run_dir)
    assert json.loads((run_dir / "samples" / "expected.json").read_text())["original"] == 500

    def gone(spec):
        raise FileNotFoundError(f"dataset root of {spec['type']} is gone")

    monkeypatch.setattr(runner.DATASETS, "build", gone)
    again = score(run_dir)
    assert again["metrics"] == before["metrics"] and again["samples"] == before["samples"]
    assert again["status"] == "partial"
    (run_dir / "samples" / "expected.json").unlink()  # a run from before the ids were recorded: needs the dataset
    with pytest.raises(FileNotFoundError, match="dataset root of Digits is gone"):
        score(run_dir)


def test_a_resume_with_another_batch_size_is_recorded_as_mixed_numerics(tmp_path: Path, digits_checkpoint: Path,
                                                                      caplog: pytest.LogCaptureFixture):
    reset_crashing(crash_after=3)
    with pytest.raises(RuntimeError, match="injected crash"):
        run(cheap(tmp_path, digits_checkpoint, "m"))
    reset_crashing()
    with caplog.at_level("WARNING", logger="bench"):
        run_dir = run(cheap(tmp_path, digits_checkpoint, "m", **{"run.batch_size": 7}), resume=True)
    prov = json.loads((run_dir / "provenance.json").read_text())
    assert [(s["batch_size"], s["world_size"], s["device"], s["samples"]) for s in prov["sessions"]] == [
        (10, 1, "cpu", 60), (7, 1, "cpu", 30)]
    assert prov["numerics_mixed"] is True and prov["numerics_mixed_settings"] == ["batch_size"]
    assert "this session's batch_size differ from the earlier sessions' (batch_size: ['10', '7'])" in caplog.text


def test_training_waits_for_another_process_training_into_its_folder(tmp_path: Path, caplog, monkeypatch):
    import subprocess
    import sys
    import threading

    from bench.config import load_config
    from bench.results import train_dir_for
    from bench.runner import train

    cfg = load_config("demo/harness_digits", {"train.epochs": 1, "run.work_dir": str(tmp_path / "t")})
    first = train(cfg)
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(train_dir_for(cfg))], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline() == "held\n"
    threading.Timer(0.5, holder.stdin.close).start()
    with caplog.at_level("INFO", logger="bench"):
        assert train(cfg) == first  # waited, then found the final checkpoint
    holder.wait()
    assert f"is in use by another training (pid {holder.pid}" in caplog.text


@pytest.mark.slow
def test_sigterm_mid_run_keeps_every_computed_sample_and_resumes_exactly(tmp_path: Path, digits_checkpoint: Path):
    import os
    import re
    import shlex
    import signal
    import subprocess
    import sys
    import time

    from bench.config import load_config
    from test_dist import bench_cli, write_config

    config = write_config(tmp_path / "term.py", tmp_path / "term", digits_checkpoint)
    config.write_text(config.read_text().replace("batch_size=32, flush_every=64", "batch_size=1, flush_every=20"))
    cfg = load_config(config)
    store = SampleStore(tmp_path / "term", config_hash(cfg))
    proc = subprocess.Popen([sys.executable, "-m", "bench.cli", "run", str(config), "--no-wandb", "--no-progress"],
                            cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "OMP_NUM_THREADS": "1"})
    deadline = time.time() + 120
    while len(store.chunk_paths()) < 2 and time.time() < deadline and proc.poll() is None:
        time.sleep(0.01)
    time.sleep(0.05)  # a few samples into the next chunk
    os.kill(proc.pid, signal.SIGTERM)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 143, stderr[-2000:]
    line = stderr.strip().splitlines()[-1]
    match = re.fullmatch(rf"bench run: interrupted by SIGTERM: (\d+) samples are stored in {tmp_path}/term/samples; "
                         r"resume with `(bench run .*)`", line)
    assert match, line
    kept = int(match.group(1))
    assert kept == len(store.finished_ids()) and 40 <= kept < 500

    bench_cli(*shlex.split(match.group(2))[1:], "--no-wandb", "--no-progress", cwd=tmp_path)  # the command as given
    clean = evaluate(load_config(config, {"run.work_dir": str(tmp_path / "clean")}), wandb_mode="disabled",
                     progress=False)
    assert read_results(tmp_path / "term")["metrics"] == read_results(clean)["metrics"]
    assert torch.equal(store.load()["logits"], stored(clean, cfg)["logits"])
    prov = json.loads((tmp_path / "term" / "provenance.json").read_text())
    assert prov["resumed_samples"] == kept and [s["samples"] for s in prov["sessions"]] == [500, 500 - kept]


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
