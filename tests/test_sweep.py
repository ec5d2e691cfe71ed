from pathlib import Path

import pytest

from bench.config import load_config
from bench.sweep import config_grid, grid_points, parse_grid, point_dir, sweep
from helpers import REPO


def test_grid_parsing_and_points():
    grid = parse_grid(["run.batch_size=8,16", "method.model_name=test_resnet,resnet10t"])
    assert grid == {"run.batch_size": [8, 16], "method.model_name": ["test_resnet", "resnet10t"]}
    assert len(grid_points(grid)) == 4
    assert point_dir(Path("s"), 1, {"method.model_name": "a/b"}).name == "001-model_name-ab"
    calibrator = {"method.calibrator": {"_delete_": True, "type": "BBQ"}}
    assert point_dir(Path("s"), 2, calibrator).name == "002-calibrator-BBQ"
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
    stamps = {p: p.stat().st_mtime_ns for p in (tmp_path / "s").glob("*/results.json")}
    again = sweep(str(config), grid, wandb_mode="disabled", sweep_dir=tmp_path / "s")
    assert again.drop(columns=["run_dir"]).equals(frame.drop(columns=["run_dir"]))
    assert {p: p.stat().st_mtime_ns for p in stamps} == stamps, "finished points are not run again"
