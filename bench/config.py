"""Run configs: mmengine python configs with ``_base_`` inheritance, overrides, validation and hashing.

A config has these top-level sections; anything else is an error with a suggestion:

- ``name``: experiment name (defaults to the file stem); ``paper``: which paper-table cells a run fills (a
  setting value ``"{method.num_inference_steps}"`` is filled from the config, so a swept config fills each cell);
- ``dataset`` / ``method`` / ``task``: registry dicts (``type`` + arguments);
- ``train``: optional training stage for methods that learn; ``run``: execution settings;
- ``wandb``: mirroring settings; ``sweep``: an optional grid for ``bench sweep``;
- ``upstream``: other configs whose products (a checkpoint, a run, its logits) this one uses, referenced as
  ``"upstream:<name>"`` and resolved by the runner before building (see :mod:`bench.upstream`).

The config hash covers everything that can change a per-sample output: the dataset, method, task and train
sections, the resolved upstream facts (each upstream's config hash and product sha256, not its path), and the run's seed
and precision. The other execution settings (batch size, device, limit, ...),
``wandb``, ``sweep``, ``name`` and ``paper`` are left out of it, so a resumed run may use another batch size
or world size and still reuse finished samples.
"""
from __future__ import annotations

import os
import re
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bench.io import sha256_json
from bench.precision import PRECISIONS
from bench.suggest import suggest

if TYPE_CHECKING:  # mmengine is imported by the functions that build a Config: `bench papers` never needs it
    from mmengine.config import Config

SECTIONS = ("name", "paper", "dataset", "method", "task", "train", "run", "wandb", "sweep", "upstream")
REQUIRED = ("dataset", "method", "task")
NOT_HASHED = ("name", "paper", "run", "wandb", "sweep")
HASHED_RUN_KEYS = ("seed", "precision")  # the run settings that change per-sample outputs

RUN_DEFAULTS: dict[str, Any] = {
    "seed": 0,  # base seed; per-sample seeds derive from it and the sample id
    "batch_size": 64,
    "num_workers": 0,
    "device": "auto",  # auto | cpu | cuda
    "precision": "fp32",  # fp32 | fp16 | bf16 (autocast on CUDA)
    "limit": None,  # evaluate only the first N samples: a partial run that never fills a table cell
    "flush_every": 1024,  # samples per stored chunk ...
    "flush_seconds": 60.0,  # ... or seconds, whichever comes first: at most this much work is redone after a kill
    "work_dir": None,  # default: <results root>/runs/<paper or 'demo'>/<name>-<config hash>
    "nonfinite": "error",  # NaN/Inf model outputs: "error" stops the run, "flag" stores them and marks it flagged
}
PAPER_KEYS = ("slug", "table", "setting", "metrics")
DICT_SECTIONS = ("paper", "dataset", "method", "task", "train", "run", "wandb", "sweep", "upstream")
DEVICE_PATTERN = r"auto|cpu|mps|(cuda|xpu)(:\d+)?"


def _integer(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


#: what each run setting must be: (test, the expectation a refusal states); keys without an entry take any value
RUN_CHECKS: dict[str, tuple[Any, str]] = {
    "seed": (_integer, "an integer"),
    "batch_size": (lambda v: _integer(v) and v > 0, "a positive integer"),
    "num_workers": (lambda v: _integer(v) and v >= 0, "an integer >= 0 (0: load in the main process)"),
    "device": (lambda v: isinstance(v, str) and re.fullmatch(DEVICE_PATTERN, v) is not None,
               "auto, cpu, cuda, cuda:<index>, mps or xpu"),
    "precision": (lambda v: v in PRECISIONS, f"one of {', '.join(PRECISIONS)}"),
    "limit": (lambda v: v is None or (_integer(v) and v > 0), "None (every sample) or a positive integer"),
    "flush_every": (lambda v: _integer(v) and v > 0, "a positive integer (samples per stored chunk)"),
    "flush_seconds": (lambda v: isinstance(v, (int, float)) and not isinstance(v, bool) and v > 0,
                      "a positive number of seconds"),
    "work_dir": (lambda v: v is None or isinstance(v, (str, os.PathLike)), "None or a folder path"),
    "nonfinite": (lambda v: v in ("error", "flag"), "'error' (stop, naming the samples) or 'flag' (store them and "
                  "flag the run)"),
}


class ConfigError(ValueError):
    """A config is malformed: unknown section, missing section, or a bad value."""


def configs_root() -> Path:
    """The folder holding the shipped configs (``configs/`` in a checkout, package data when installed)."""
    return Path(str(resources.files("bench.configs")))


def resolve_config_path(name_or_path: str | os.PathLike) -> Path:
    """Accept a file path, or a path relative to the shipped ``configs/`` folder (with or without ``.py``)."""
    candidate = Path(name_or_path)
    if candidate.is_file():
        return candidate
    for option in (configs_root() / candidate, configs_root() / f"{candidate}.py"):
        if option.is_file():
            return option
    shipped = sorted(str(p.relative_to(configs_root()).with_suffix("")) for p in configs_root().rglob("*.py")
                     if "_base_" not in p.parts and p.name != "__init__.py")
    raise FileNotFoundError(
        f"config {str(name_or_path)!r} not found as a file or under {configs_root()}."
        f"{suggest(str(name_or_path), shipped)}"
    )


def load_config(name_or_path: str | os.PathLike, cfg_options: dict | None = None) -> Config:
    """Load a config, apply ``--cfg-options`` overrides, fill run defaults and validate it."""

    path = resolve_config_path(name_or_path)
    cfg = read_config_file(path)
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    if not cfg.get("name"):
        cfg.name = path.stem
    run = dict(RUN_DEFAULTS)
    given = cfg.get("run", {}) or {}
    if not isinstance(given, dict):
        raise ConfigError(f"{path}: section 'run' must be a dict, got {given!r} ({type(given).__name__}); "
                          "e.g. run = dict(batch_size=64)")
    run.update(given)
    cfg.run = run
    validate_config(cfg, source=str(path))
    if cfg.get("paper"):
        cfg.paper.setting = {key: _fill_setting(value, cfg, str(path)) for key, value in cfg.paper.setting.items()}
    return cfg


def read_config_file(path: Path) -> Config:
    """mmengine's ``Config.fromfile``, its failures turned into a :class:`ConfigError` naming the file (and the
    line of a syntax error): a config is python a user edits, so a typo is an input error, not a crash."""
    from mmengine.config import Config

    if path.suffix not in (".py", ".json", ".yaml", ".yml"):
        raise ConfigError(f"{path}: a config is a python file (.py; mmengine also reads .json and .yaml), not "
                          f"{path.suffix or 'a file without a suffix'}; rename it or pass the .py config")
    try:
        return Config.fromfile(str(path))
    except SyntaxError as error:
        where = f"{error.filename if error.filename not in (None, '<unknown>') else path}, line {error.lineno}"
        raise ConfigError(f"{where}: python syntax error in the config: {error.msg}; fix that line") from error
    except UnicodeDecodeError as error:
        raise ConfigError(f"{path}: not UTF-8 text ({error.reason} at byte {error.start}); a config is a python "
                          "file saved as UTF-8") from error
    except FileNotFoundError as error:
        raise ConfigError(f"{path}: a file it names was not found: {error.filename or error}; fix the path in "
                          "its _base_ list (relative to the config's folder)") from error
    except Exception as error:  # noqa: BLE001 - running the file raised: the user's code, not ours
        raise ConfigError(f"{path}: running the config raised {type(error).__name__}: {error}; configs are "
                          "python: quote strings (type='Digits'), and check the names they use") from error


def paper_section(name_or_path: str | os.PathLike) -> dict[str, Any] | None:
    """The config's ``paper`` section as :func:`load_config` gives it (settings filled), read without mmengine
    where :mod:`bench.configfile` can (``bench papers`` reads every config's section: seconds through mmengine)."""
    from bench.configfile import UnsupportedConfig, read_config_dict

    path = resolve_config_path(name_or_path)
    try:
        cfg = dict(read_config_dict(path, copy_=False))  # the cached dict: replace what is filled, never modify
    except UnsupportedConfig:
        return to_plain(load_config(path).get("paper"))
    paper = cfg.get("paper")
    if not paper:
        return to_plain(paper)
    paper = dict(paper)
    missing = [k for k in PAPER_KEYS if k not in paper]
    unknown = [k for k in paper if k not in PAPER_KEYS]
    if missing or unknown:  # the full validation names the problem
        return to_plain(load_config(path).get("paper"))
    run = dict(RUN_DEFAULTS)
    run.update(cfg.get("run", {}) or {})
    cfg["run"] = run
    if not cfg.get("name"):
        cfg["name"] = path.stem
    paper["setting"] = {key: _fill_setting(value, cfg, str(path)) for key, value in paper["setting"].items()}
    return to_plain(paper)


def _fill_setting(value: Any, cfg: Config | dict[str, Any], source: str) -> Any:
    """``"{method.num_inference_steps}"`` in a paper setting becomes that config value, so one config swept over a
    key fills the matching cell of every grid point."""
    import re

    def lookup(match: re.Match) -> str:
        node: Any = cfg if isinstance(cfg, dict) else cfg.to_dict()
        for part in match.group(1).split("."):
            if not isinstance(node, dict) or part not in node:
                raise ConfigError(f"{source}: paper setting refers to {match.group(0)}, which the config lacks")
            node = node[part]
        return str(node)

    return re.sub(r"\{([A-Za-z_][\w.]*)\}", lookup, value) if isinstance(value, str) else value


def validate_config(cfg: Config, source: str = "<config>") -> None:
    """Check sections and run keys, with suggestions for misspelt names."""
    for key in cfg.keys():
        if key not in SECTIONS:
            raise ConfigError(f"{source}: unknown config section {key!r}.{suggest(key, SECTIONS)} "
                              f"Allowed sections: {', '.join(SECTIONS)}.")
    for key in REQUIRED:
        if not cfg.get(key):
            raise ConfigError(f"{source}: missing required section {key!r} (a dict with a 'type' key).")
    for key in DICT_SECTIONS:
        if cfg.get(key) is not None and not isinstance(cfg.get(key), dict):
            raise ConfigError(f"{source}: section {key!r} must be a dict, got {cfg.get(key)!r} "
                              f"({type(cfg.get(key)).__name__}); e.g. {key} = dict(...)")
    for key, value in cfg.run.items():
        if key not in RUN_DEFAULTS:
            raise ConfigError(f"{source}: unknown run setting {key!r}.{suggest(key, list(RUN_DEFAULTS))} "
                              f"Allowed: {', '.join(RUN_DEFAULTS)}.")
        test, expected = RUN_CHECKS.get(key, (lambda v: True, ""))
        if not test(value):
            raise ConfigError(f"{source}: run.{key} must be {expected}, got {value!r} ({type(value).__name__}); "
                              f"fix the config's run section or pass --cfg-options run.{key}=<value>")
    paper = cfg.get("paper")
    if paper:
        for key in paper:
            if key not in PAPER_KEYS:
                raise ConfigError(f"{source}: unknown paper key {key!r}.{suggest(key, PAPER_KEYS)}")
        missing = [k for k in PAPER_KEYS if k not in paper]
        if missing:
            raise ConfigError(f"{source}: paper section lacks {', '.join(missing)}")
    from bench.upstream import validate_section

    validate_section(cfg, source)  # entries, products, and that every "upstream:<name>" reference is declared
    for key in REQUIRED:
        if "type" not in cfg[key]:
            raise ConfigError(f"{source}: section {key!r} needs a 'type' key naming a registered {key}.")


def to_plain(obj: Any) -> Any:
    """ConfigDicts and tuples to plain dicts and lists, for JSON and hashing."""
    if isinstance(obj, dict):  # mmengine's ConfigDict is a dict
        return {str(k): to_plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_plain(v) for v in obj]
    if isinstance(obj, Path):
        return str(obj)
    return obj


def config_text(cfg: Config) -> str:
    """The resolved config as python literals, one section per line group; ``load_config`` reads it back.

    Written instead of mmengine's ``pretty_text``, whose yapf pass costs tens of milliseconds per run.
    """
    import pprint

    return "".join(f"{key} = {pprint.pformat(to_plain(value), width=110, sort_dicts=True)}\n"
                   for key, value in sorted(cfg.to_dict().items()))


def content_facts(resolved: dict[str, Any]) -> dict[str, Any]:
    """An upstream's resolved facts without where its product lies: the hash follows what the product is (its
    config hash and content sha256), so moving the results root or another machine gives the same hash."""
    return {key: value for key, value in resolved.items() if key != "path"}


def config_hash(cfg: Config) -> str:
    """sha256 of the sections that determine per-sample outputs (the upstream section with its resolved facts
    among them), plus the run's seed and precision."""
    hashed = {k: to_plain(v) for k, v in cfg.to_dict().items() if k not in NOT_HASHED}
    for entry in (hashed.get("upstream") or {}).values():
        if isinstance(entry, dict) and isinstance(entry.get("resolved"), dict):
            entry["resolved"] = content_facts(entry["resolved"])
    run = cfg.get("run") or {}
    hashed["run"] = {key: run.get(key, RUN_DEFAULTS[key]) for key in HASHED_RUN_KEYS}
    return sha256_json(hashed)


def parse_cli_value(text: str) -> Any:
    """``--cfg-options``/``--grid`` value parsing: python literals where possible, else the string."""
    import ast

    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text
