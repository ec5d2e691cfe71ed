import json

import pytest

from bench.cli import main


def test_papers_json_lists_all_seventeen(capsys):
    assert main(["papers", "--json"]) == 0
    entries = json.loads(capsys.readouterr().out)
    assert len(entries) == 17
    diffact = next(e for e in entries if e["slug"] == "diffact")
    assert diffact["status"] == "faithful" and diffact["reported_numbers"] == 15
    assert "diffact/gtea_split1.py" in diffact["configs"] and "demo/diffact_generated.py" in diffact["demo_configs"]
    idc = next(e for e in entries if e["slug"] == "idc")
    assert idc["status"] == "faithful" and "demo/idc_digits.py" in idc["demo_configs"]
    amg = next(e for e in entries if e["slug"] == "amg")
    assert amg["status"] == "not started: reported numbers only" and not amg["adapter"]
    kd = next(e for e in entries if e["slug"] == "two_in_one_kd")
    assert kd["status"] == "re-implementation" and "two_in_one_kd/ffpp_c23.py" in kd["configs"]
    assert "demo/two_in_one_kd_6_two_in_one.py" in kd["demo_configs"]


def test_table_csv(capsys):
    assert main(["table", "diffact", "--format", "csv"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0].startswith("table,setting,metric,reported,reproduced,delta,tolerance,status")
    assert len(lines) == 16


@pytest.mark.parametrize("argv, message", [
    (["run", "demo/harness_digit"], "Did you mean 'demo/harness_digits'"),
    (["run", "demo/harness_digits", "--cfg-options", "method.type=TimmClasifier"], "Did you mean 'TimmClassifier'"),
    (["run", "demo/harness_digits", "--cfg-options", "method.model_nme=x"], "Did you mean 'model_name'"),
    (["table", "difact"], "Did you mean 'diffact'"),
])
def test_user_errors_exit_2_with_a_suggestion(argv, message, capsys):
    assert main(argv) == 2
    assert message in capsys.readouterr().err


def test_demo_runs_and_prints_its_leaderboard(tmp_path, capsys):
    assert main(["demo", "--only", "harness", "--no-wandb", "--results-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "Demo leaderboard" in out and "harness_digits" in out
    (run_dir,) = (tmp_path / "runs" / "demo").glob("harness_digits-*")
    results = json.loads((run_dir / "results.json").read_text())
    assert results["metrics"]["accuracy"] > 0.9
    prediction = json.loads((run_dir / "provenance.json").read_text())["prediction_rank0"]
    assert prediction["samples"] == 500 and prediction["samples_per_s"] > 0
    assert "samples/s" in out
