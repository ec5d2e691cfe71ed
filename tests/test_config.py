from pathlib import Path

import pytest

from bench.config import ConfigError, config_hash, load_config, parse_cli_value, resolve_config_path


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


@pytest.fixture
def child(tmp_path: Path) -> Path:
    write(tmp_path / "_base_" / "data.py", "dataset = dict(type='Digits', split='test')\n")
    write(tmp_path / "_base_" / "run.py", "run = dict(batch_size=8, seed=3)\n")
    return write(tmp_path / "paper" / "exp.py",
                 "_base_ = ['../_base_/data.py', '../_base_/run.py']\n"
                 "method = dict(type='TimmClassifier', model_name='test_resnet', num_classes=10)\n"
                 "task = dict(type='classification')\n"
                 "run = dict(batch_size=16)\n")


def test_base_inheritance_merges_and_child_wins(child: Path):
    cfg = load_config(child)
    assert cfg.dataset.split == "test"
    assert cfg.run.batch_size == 16 and cfg.run.seed == 3
    assert cfg.run.flush_every == 1024  # filled from RUN_DEFAULTS
    assert cfg.name == "exp"


def test_cfg_options_override_nested_keys(child: Path):
    cfg = load_config(child, {"dataset.split": "val", "run.limit": 5})
    assert cfg.dataset.split == "val" and cfg.run.limit == 5


def test_unknown_section_and_run_key_get_suggestions(child: Path):
    with pytest.raises(ConfigError, match=r"unknown config section 'methd'\. Did you mean 'method'\?"):
        load_config(child, {"methd.x": 1})
    with pytest.raises(ConfigError, match=r"unknown run setting 'batchsize'\. Did you mean 'batch_size'\?"):
        load_config(child, {"run.batchsize": 1})


def test_missing_required_section(tmp_path: Path):
    path = write(tmp_path / "bad.py", "dataset = dict(type='Digits')\nmethod = dict(type='X')\n")
    with pytest.raises(ConfigError, match="missing required section 'task'"):
        load_config(path)


def test_hash_ignores_execution_settings_but_not_outputs(child: Path):
    base = config_hash(load_config(child))
    assert config_hash(load_config(child, {"run.batch_size": 1, "run.limit": 3, "name": "other"})) == base
    assert config_hash(load_config(child, {"method.num_classes": 9})) != base
    # the run settings that change per-sample outputs are hashed: Monte-Carlo methods draw from the seed
    assert config_hash(load_config(child, {"run.seed": 1})) != base
    assert config_hash(load_config(child, {"run.precision": "bf16"})) != base
    assert len(base) == 64


def test_shipped_configs_resolve_by_name():
    assert resolve_config_path("demo/harness_digits").name == "harness_digits.py"
    with pytest.raises(FileNotFoundError, match="Did you mean 'demo/harness_digits'"):
        resolve_config_path("demo/harness_digit")


def test_cli_values_parse_as_literals():
    assert parse_cli_value("3") == 3 and parse_cli_value("0.5") == 0.5
    assert parse_cli_value("[1, 2]") == [1, 2] and parse_cli_value("resnet18") == "resnet18"


def test_resolved_config_text_loads_back_to_the_same_hash(child: Path, tmp_path: Path):
    from bench.config import config_text

    cfg = load_config(child, {"run.limit": 7})
    (tmp_path / "resolved.py").write_text(config_text(cfg))
    again = load_config(tmp_path / "resolved.py")
    assert config_hash(again) == config_hash(cfg) and again.run.limit == 7 and again.name == "exp"


def test_every_shipped_config_loads_and_fills_its_paper_setting():
    """Each leaf config under configs/ loads, validates and has no unfilled ``{...}`` template left; the catalogue's
    mmengine-free read of its paper section (the table cells it fills) gives the same section."""
    from bench.config import configs_root, paper_section, to_plain

    leaves = [p for p in configs_root().rglob("*.py") if "_base_" not in p.parts and p.name != "__init__.py"]
    assert len(leaves) > 50
    for path in leaves:
        cfg = load_config(path)
        setting = dict(cfg.paper.setting) if cfg.get("paper") else {}
        assert not any("{" in str(value) for value in setting.values()), path
        assert paper_section(path) == to_plain(cfg.get("paper")), path
    k = load_config(configs_root() / "compress_guidance/imagenet64_cadm_g_k_ablation.py", {
        "method.guidance.schedule.k": 5})
    assert k.paper.setting["k"] == "5"


def test_nonfinite_policy_defaults_to_error_and_is_checked(child: Path):
    assert load_config(child).run.nonfinite == "error"
    assert load_config(child, {"run.nonfinite": "flag"}).run.nonfinite == "flag"
    with pytest.raises(ConfigError, match=r"run\.nonfinite must be 'error' .* or 'flag' .*, got 'ignore'"):
        load_config(child, {"run.nonfinite": "ignore"})
