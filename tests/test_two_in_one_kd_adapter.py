"""Two-in-one KD adapters (bench.methods.two_in_one_kd.adapter): frame scores and cost, the teacher from another
config, training keyed by the teacher's weights, determinism, and the run end to end on the forgery proxy."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from bench.config import configs_root, load_config
from bench.datasets.face_forgery import GeneratedForgeryVideos
from bench.methods.two_in_one_kd import DualBranchForgeryTeacher, TwoInOneKD
from bench.runner import evaluate
from bench.throughput import count_parameters
from bench.upstream import UpstreamError

PROXY = dict(type="GeneratedForgeryVideos", videos=8, frames_per_video=2, size=16, artifact_strength=0.5)
TRAIN = dict(epochs=2, batch_size=8, lr=2e-3, seed=0)


def proxy(split: str = "train") -> GeneratedForgeryVideos:
    return GeneratedForgeryVideos(split, **{k: v for k, v in PROXY.items() if k != "type"})


def batch_of(data: GeneratedForgeryVideos, n: int = 6) -> dict:
    items = [data[i] for i in range(n)]
    return {"image": torch.stack([i["image"] for i in items]), "target": torch.stack([i["target"] for i in items]),
            "video_id": [i["video_id"] for i in items]}


@pytest.fixture(scope="module")
def teacher_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    torch.manual_seed(0)
    teacher = DualBranchForgeryTeacher(spatial="test_resnet", frequency="test_resnet")
    return teacher.fit(proxy(), None, tmp_path_factory.mktemp("teacher"), torch.device("cpu"), **TRAIN)


def teacher_spec(checkpoint: Path | str) -> dict:
    return {"method": {"type": "DualBranchForgeryTeacher", "spatial": "test_resnet", "frequency": "test_resnet"},
            "checkpoint": str(checkpoint)}


UNUSED = teacher_spec("unused.pth")  # a teacher that the test never loads


def test_teacher_scores_are_sigmoid_logits_with_the_models_cost(teacher_checkpoint: Path):
    teacher = DualBranchForgeryTeacher(spatial="test_resnet", frequency="test_resnet",
                                       checkpoint=str(teacher_checkpoint))
    teacher.setup(torch.device("cpu"))
    batch = batch_of(proxy("test"))
    out = teacher.predict(batch, torch.zeros(6, dtype=torch.int64))
    with torch.no_grad():
        logit = teacher.model(teacher.preprocess(batch["image"]))["logit"]
    torch.testing.assert_close(out["score"], torch.sigmoid(logit))
    assert out["video_id"] == batch["video_id"] and torch.equal(out["target"], batch["target"])
    assert set(out["params"].tolist()) == {count_parameters(teacher.model)} and int(out["macs"][0]) > 0
    assert teacher.weights["path"] == str(teacher_checkpoint) and len(teacher.weights["sha256"]) == 64


def test_student_options_are_checked():
    with pytest.raises(ValueError, match="dedicated"):
        TwoInOneKD(student="test_efficientnet", teacher=UNUSED, mode="spatial", homogenization="project")
    with pytest.raises(ValueError, match="naive_both"):
        TwoInOneKD(student="test_efficientnet", teacher=UNUSED, mode="both")
    with pytest.raises(ValueError, match="weights"):
        TwoInOneKD(student="test_efficientnet", teacher=UNUSED, weights={"spacial": 1.0})
    with pytest.raises(ValueError, match="checkpoint"):
        TwoInOneKD(student="test_efficientnet", teacher={"spatial": "test_resnet"})
    with pytest.raises(UpstreamError, match="unresolved upstream reference"):  # the constructor never trains
        TwoInOneKD(student="test_efficientnet", teacher=teacher_spec("upstream:teacher"))


def fit_student(teacher: str | dict, work_dir: Path, **options) -> tuple[TwoInOneKD, Path]:
    method = TwoInOneKD(student="test_efficientnet", teacher=teacher, **options)
    torch.manual_seed(123)  # the student's init must not depend on the global RNG
    return method, method.fit(proxy(), None, work_dir, torch.device("cpu"), **TRAIN)


def test_student_training_is_deterministic_and_keyed_by_the_teachers_weights(teacher_checkpoint: Path,
                                                                            tmp_path: Path):
    spec = teacher_spec(teacher_checkpoint)
    method, first = fit_student(spec, tmp_path / "a", mode="dedicated", homogenization="both")
    _, second = fit_student(spec, tmp_path / "b", mode="dedicated", homogenization="both")
    assert first.parent.name == f"teacher-{method.teacher_facts['sha256'][:12]}"
    a, b = torch.load(first, weights_only=True), torch.load(second, weights_only=True)
    assert all(torch.equal(a["state_dict"][k], b["state_dict"][k]) for k in a["state_dict"])
    assert {k.split(".")[0] for k in a["state_dict"]} == {"student", "projectors"}
    history = a["meta"]["history"]
    assert len(history) == 2 and {"classification", "distill_spatial", "distill_frequency",
                                  "distill_cosine"} <= set(history[0])
    assert -1.0 <= history[-1]["distill_cosine"] <= 1.0
    _, plain = fit_student(spec, tmp_path / "c", mode="dedicated", homogenization="none")
    c = torch.load(plain, weights_only=True)["state_dict"]
    # the student's first step already differs: homogenization changed the shared gradient
    assert not torch.equal(a["state_dict"]["student.backbone.conv_stem.weight"],
                           c["student.backbone.conv_stem.weight"])


def test_evaluation_loads_only_the_student_and_reports_the_last_cosine(teacher_checkpoint: Path, tmp_path: Path):
    method, final = fit_student(teacher_spec(teacher_checkpoint), tmp_path, mode="dedicated", homogenization="none")
    method.use_checkpoint(final)
    method.setup(torch.device("cpu"))
    out = method.predict(batch_of(proxy("test")), torch.zeros(6, dtype=torch.int64))
    assert out["score"].shape == (6,) and bool(((out["score"] > 0) & (out["score"] < 1)).all())
    assert set(out["params"].tolist()) == {count_parameters(method.model)}
    last = torch.load(final, weights_only=True)["meta"]["history"][-1]["distill_cosine"]
    assert method.fitted_values() == {"distill grad cosine (last epoch)": pytest.approx(last)}
    assert TwoInOneKD(student="test_efficientnet", teacher=UNUSED, mode="spatial").fitted_values() == {}


def test_a_mismatched_checkpoint_names_the_file_and_the_keys(teacher_checkpoint: Path):
    student = TwoInOneKD(student="test_resnet", teacher=UNUSED, checkpoint=str(teacher_checkpoint))
    with pytest.raises(RuntimeError, match=r"(?s)final\.pth does not match Student.*missing keys.*"
                       r"shape mismatches \(1\): head.weight"):
        student.setup(torch.device("cpu"))


def write_config(path: Path, body: str) -> Path:
    path.write_text(f'_base_ = ["{configs_root() / "_base_/default_run.py"}"]\n' + body)
    return path


def test_teacher_config_then_student_config_end_to_end(tmp_path: Path):
    common = (f"dataset = dict({', '.join(f'{k}={v!r}' for k, v in PROXY.items())}, split='test')\n"
              f"train = dict(dataset=dict({', '.join(f'{k}={v!r}' for k, v in PROXY.items())}, split='train'), "
              f"{', '.join(f'{k}={v!r}' for k, v in TRAIN.items())})\n"
              "task = dict(type='binary_detection', metrics=[dict(type='FrameAccuracy'), dict(type='FrameAUC'), "
              "dict(type='VideoAUC'), dict(type='ModelCost')])\n")
    teacher = write_config(tmp_path / "teacher.py", common + "method = dict(type='DualBranchForgeryTeacher', "
                                                             "spatial='test_resnet', frequency='test_resnet')\n")
    student = write_config(tmp_path / "student.py", common + "method = dict(type='TwoInOneKD', "
                           "student='test_efficientnet', teacher=dict(method='upstream:teacher.method', "
                           "checkpoint='upstream:teacher'), mode='dedicated', homogenization='both')\n"
                           f"upstream = dict(teacher=dict(config={str(teacher)!r}, product='checkpoint'))\n")
    run_dir = evaluate(load_config(student, {"run.work_dir": str(tmp_path / "run")}), progress=False)
    results = json.loads((run_dir / "results.json").read_text())
    metrics = results["metrics"]
    assert metrics["videos"] == 8 and 0.0 <= metrics["video AUC"] <= 1.0
    assert metrics["params (M)"] == pytest.approx(count_parameters(TwoInOneKD(
        student="test_efficientnet", teacher=UNUSED).create_model()) / 1e6)
    assert "distill grad cosine (last epoch)" in metrics
    recorded = json.loads((run_dir / "provenance.json").read_text())
    provenance, trained = recorded["method"], recorded["upstream"]["teacher"]
    assert provenance["teacher"]["source"]["checkpoint"] == trained["path"] and provenance["mode"] == "dedicated"
    assert provenance["teacher"]["sha256"] == trained["sha256"] and trained["method"]["spatial"] == "test_resnet"
    assert [h["epoch"] for h in provenance["training_history"]] == [1, 2]


def kd_demo_runs(**auc: float) -> dict:
    return {f"two_in_one_kd_{row}": {"metrics": {"frame AUC": value}, "run_dir": f"/r/{row}"}
            for row, value in auc.items()}


def test_demo_summary_calls_the_two_in_one_gain_against_the_noise_level():
    from bench.methods.two_in_one_kd.demo import NOISE, NOISE_FULL
    from bench.registry import DEMOS

    summarize = DEMOS.get("two_in_one_kd")
    quick = summarize(kd_demo_runs(**{"0_teacher": 0.99, "1_none": 0.75, "6_two_in_one": 0.68}))
    assert quick.headline["teacher AUC"] == 0.99 and quick.headline["two-in-one gain"] == pytest.approx(-0.07)
    assert "teacher 0.990, students without distillation 0.750 and with two-in-one KD 0.680;" in quick.sentence
    assert "does not reproduce the paper's effect at this scale" in quick.sentence
    shown = summarize(kd_demo_runs(**{"0_teacher": 0.99, "1_none": 0.7, "6_two_in_one": 0.71 + NOISE}))
    assert "beats no distillation by more than the noise level" in shown.sentence and "does not" not in shown.sentence
    full = summarize(kd_demo_runs(**{"0_teacher": 0.993, "1_none": 0.971, "2_spatial": 0.976,
                                     "6_two_in_one": 0.980}))  # the full demo's rows add to the sentence
    assert "(spatial only 0.976)" in full.sentence and "noise level (0.011): does not reproduce" in full.sentence
    full_shown = summarize(kd_demo_runs(**{"0_teacher": 0.993, "1_none": 0.971, "2_spatial": 0.976,
                                           "6_two_in_one": 0.971 + NOISE_FULL + 0.001}))
    assert "beats no distillation by more than the noise level (0.011)" in full_shown.sentence
    with pytest.raises(KeyError, match=r"needs the runs \['two_in_one_kd_0_teacher'\]"):
        summarize(kd_demo_runs(**{"1_none": 0.8, "6_two_in_one": 0.8}))
