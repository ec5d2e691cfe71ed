import json
from pathlib import Path

import pytest

from bench.config import load_config
from bench.results import results_root, run_dir_for, train_dir_for
from bench.sweep import config_grid, grid_points, parse_grid, plan_points, point_label, sweep
from helpers import REPO


def test_grid_parsing_and_points():
    grid = parse_grid(["run.batch_size=8,16", "method.model_name=test_resnet,resnet10t"])
    assert grid == {"run.batch_size": [8, 16], "method.model_name": ["test_resnet", "resnet10t"]}
    assert len(grid_points(grid)) == 4
    assert point_label({"method.model_name": "a/b"}) == "model_name-ab"
    assert point_label({"method.calibrator": {"_delete_": True, "type": "BBQ"}}) == "calibrator-BBQ"
    with pytest.raises(ValueError, match="key=v1,v2"):
        parse_grid(["nokey"])


def test_grid_from_the_config_sweep_section():
    cfg = load_config("demo/harness_digits", {"sweep": {"grid": {"run.seed": [0, 1]}}})
    assert config_grid(cfg) == {"run.seed": [0, 1]}
    with pytest.raises(ValueError, match="no sweep.grid"):
        config_grid(load_config("demo/harness_digits"))


@pytest.fixture
def local_ray():
    """One local Ray for both sweeps of the test (a Ray start costs ~10 s on two cores)."""
    import tempfile

    import ray

    ray.init(num_cpus=2, include_dashboard=False, logging_level="WARNING", log_to_driver=False,
             _temp_dir=tempfile.mkdtemp(prefix="bench-ray-"))
    yield
    ray.shutdown()


def test_ray_sweep_runs_every_point_and_resumes(tmp_path: Path, digits_checkpoint: Path, local_ray):
    config = tmp_path / "sweep.py"
    config.write_text(f"_base_ = [{str(REPO / 'configs/demo/harness_digits.py')!r}]\ntrain = None\n"
                      f"method = dict(checkpoint={str(digits_checkpoint)!r})\nrun = dict(limit=60, device='cpu')\n")
    grid = {"task.metrics": [[{"type": "ECE", "n_bins": 10}], [{"type": "ECE", "n_bins": 20}]]}
    frame = sweep(str(config), grid, wandb_mode="disabled", sweep_dir=tmp_path / "s")
    assert len(frame) == 2 and set(frame.status) == {"partial"}
    assert frame["ece_10"].notna().sum() == 1 and frame["ece_20"].notna().sum() == 1
    assert (tmp_path / "s" / "summary.csv").is_file() and (tmp_path / "s" / "summary.md").is_file()
    manifest = json.loads((tmp_path / "s" / "manifest.json").read_text())
    run_dirs = [Path(p["run_dir"]) for p in manifest["points"]]
    assert [str(d) for d in run_dirs] == list(frame.run_dir)
    assert all(d.parent == results_root() / "runs" / "demo" and d.name.startswith("sweep-") for d in run_dirs)
    assert sorted(p.name for p in (tmp_path / "s").iterdir() if p.name != "ray") == ["manifest.json", "summary.csv",
                                                                                     "summary.md"]
    stamps = {d: (d / "results.json").stat().st_mtime_ns for d in run_dirs}
    again = sweep(str(config), grid, wandb_mode="disabled", sweep_dir=tmp_path / "s")
    assert again.equals(frame)
    assert {d: (d / "results.json").stat().st_mtime_ns for d in run_dirs} == stamps, "finished points are not rerun"


def test_a_swept_cell_reaches_its_papers_table(tmp_path: Path, digits_checkpoint: Path):
    """Two points of a config whose paper setting takes the swept key fill two reported cells of that paper (the
    compress_guidance k ablation's rows, here filled by a digits classifier's accuracy): ``bench table`` shows them."""
    from bench.tables import paper_table, render_paper

    config = tmp_path / "cells.py"
    setting = {"dataset": "ImageNet-64", "model": "CADM-G", "guidance": "classifier", "method": "CompG",
               "k": "{run.seed}"}
    config.write_text(f"_base_ = [{str(REPO / 'configs/demo/harness_digits.py')!r}]\ntrain = None\n"
                      f"method = dict(checkpoint={str(digits_checkpoint)!r})\nrun = dict(device='cpu')\n"
                      f"paper = dict(slug='compress_guidance', table='ablation_k', setting={setting!r}, "
                      "metrics={'guided steps': dict(key='accuracy', scale=100)})\n")
    frame = sweep(str(config), {"run.seed": [1, 5]}, wandb_mode="disabled", sweep_dir=tmp_path / "s", local=True)
    assert set(frame.status) == {"complete"}
    table = paper_table("compress_guidance")
    for seed, run_dir in zip((1, 5), frame.run_dir, strict=True):
        results = json.loads((Path(run_dir) / "results.json").read_text())
        row = table[(table.table == "ablation_k") & (table.metric == "guided steps")
                    & table.setting.str.endswith(f"method=CompG, k={seed}")]
        assert len(row) == 1 and row.iloc[0]["reported"] in (50.0, 32.0)  # the paper's numbers for k = 1 and 5
        assert row.iloc[0]["reproduced"] == pytest.approx(100 * results["metrics"]["accuracy"], abs=1e-6)
        assert row.iloc[0]["run_id"] == results["run_id"]
        assert results["run_id"] in render_paper("compress_guidance")


def test_points_differing_in_eval_only_keys_share_one_train_folder(tmp_path: Path):
    planned = plan_points("demo/idc_digits", grid_points({"method.tau": [0.5, 1.0]}))
    assert planned[0]["train_dir"] == planned[1]["train_dir"] is not None
    assert planned[0]["run_dir"] != planned[1]["run_dir"]
    assert Path(planned[0]["train_dir"]).parent == results_root() / "runs" / "demo" / "train"
    retrained = plan_points("demo/idc_digits", grid_points({"train.epochs": [1, 2]}))
    assert retrained[0]["train_dir"] != retrained[1]["train_dir"]
    moved = load_config("demo/harness_digits", {"run.work_dir": str(tmp_path / "elsewhere")})
    assert train_dir_for(moved) == train_dir_for(load_config("demo/harness_digits")), "work_dir moves only the run"
    assert run_dir_for(moved, "0" * 64) == tmp_path / "elsewhere"
    with pytest.raises(ValueError, match="drop run.work_dir"):
        plan_points("demo/harness_digits", [{"run.seed": 1}], {"run.work_dir": str(tmp_path)})
    with pytest.raises(ValueError, match="same config hash"):
        plan_points("demo/harness_digits", grid_points({"run.batch_size": [8, 16]}))
