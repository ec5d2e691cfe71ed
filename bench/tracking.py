"""Mirror a finished run to Weights & Biases (rank 0 only, offline unless told otherwise).

Local files are the source of truth: this runs after results.json is written, and any W&B failure is
logged and recorded in ``<run>/wandb_status.json``, never raised. W&B's own state (run files, cache,
config, artefact staging) is kept inside the run directory instead of ``$HOME`` and ``/tmp``.
"""
from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

from bench.io import atomic_write_json
from bench.results import RESULTS_FILE

log = logging.getLogger("bench")
WANDB_DIR_VARS = {"WANDB_DIR": "", "WANDB_CACHE_DIR": "cache", "WANDB_CONFIG_DIR": "config",
                  "WANDB_DATA_DIR": "data", "WANDB_ARTIFACT_DIR": "artifacts"}


def resolve_mode(mode: str | None) -> str:
    """``--wandb``/``--no-wandb`` win; else ``$WANDB_MODE``; else offline."""
    if mode:
        return mode
    return os.environ.get("WANDB_MODE", "offline")


def wandb_dirs(run_dir: Path) -> dict[str, str]:
    root = Path(run_dir).resolve() / "wandb"
    return {var: str(root / sub) if sub else str(root) for var, sub in WANDB_DIR_VARS.items()}


def mirror_to_wandb(run_dir: Path, config: dict[str, Any], provenance: dict[str, Any], results: dict[str, Any],
                    mode: str | None = None, wandb_cfg: dict[str, Any] | None = None) -> dict[str, Any]:
    """Log config + provenance, summary metrics, a metric table, the run's figures and results.json as an artefact."""
    mode = resolve_mode(mode)
    status: dict[str, Any] = {"mode": mode, "ok": False}
    if mode == "disabled":
        status["ok"] = True
        return status
    wandb_cfg = dict(wandb_cfg or {})
    dirs = wandb_dirs(run_dir)
    saved = {var: os.environ.get(var) for var in dirs}
    try:
        for var, path in dirs.items():
            Path(path).mkdir(parents=True, exist_ok=True)
            os.environ[var] = path
        import wandb

        run = wandb.init(
            project=wandb_cfg.get("project", "bench"), entity=wandb_cfg.get("entity"), mode=mode,  # type: ignore[arg-type]
            dir=dirs["WANDB_DIR"], group=results.get("paper") or "demo", job_type=results["method"],
            name=results["run_id"], id=results["run_id"], resume="allow", reinit="finish_previous",
            config={"config": config, "provenance": provenance},
            settings=wandb.Settings(console="off", silent=True, x_disable_stats=True),
        )
        run.summary.update({f"metrics/{k}": v for k, v in results["metrics"].items()})
        run.summary.update({"status": results["status"], "smoke": results["smoke"]})
        table = wandb.Table(columns=["run_id", "metric", "value"],
                            data=[[results["run_id"], k, v] for k, v in sorted(results["metrics"].items())])
        run.log({"metrics_table": table})
        figures = {name: wandb.Image(str(Path(run_dir) / rel)) for name, rel in results.get("figures", {}).items()}
        if figures:
            run.log({f"figures/{name}": image for name, image in figures.items()})
        artifact = wandb.Artifact(f"results-{results['run_id']}", type="results")
        artifact.add_file(str(Path(run_dir) / RESULTS_FILE))
        run.log_artifact(artifact)
        run.finish()
        status.update(ok=True, run_path=str(Path(run.dir).parent))
    except Exception as error:  # a mirror failure must never lose or fail a finished run
        log.warning("W&B mirror failed (%s); local results in %s are complete", error, run_dir)
        status["error"] = f"{type(error).__name__}: {error}"
    finally:
        for var, value in saved.items():
            if value is None:
                os.environ.pop(var, None)
            else:
                os.environ[var] = value
    atomic_write_json(Path(run_dir) / "wandb_status.json", status)
    return status


def read_offline_run(run_dir: Path) -> dict[str, Any]:
    """Read back what the offline mirror recorded: run id/group/job type, config keys, summary, artefacts.

    The ``.wandb`` file is a LevelDB-style log (32 KiB blocks, 7-byte record headers) of protobuf
    ``Record``s behind a 7-byte ``:W&B`` file header; wandb >= 0.19 ships no Python reader for it.
    """
    import json

    from wandb.proto import wandb_internal_pb2 as pb

    files = sorted((Path(run_dir) / "wandb" / "wandb").glob("offline-run-*/*.wandb"))
    if not files:
        raise FileNotFoundError(f"no offline W&B run under {run_dir}/wandb/wandb")
    out: dict[str, Any] = {"run": {}, "config": {}, "summary": {}, "artifacts": [], "history_keys": set()}
    for payload in _leveldb_records(files[-1].read_bytes()):
        record = pb.Record()  # type: ignore[attr-defined]  # generated protobuf module, no stub
        record.ParseFromString(payload)
        kind = record.WhichOneof("record_type")
        if kind == "run":
            out["run"] = {"id": record.run.run_id, "group": record.run.run_group, "job_type": record.run.job_type,
                          "project": record.run.project}
            for item in record.run.config.update:
                out["config"][item.key] = json.loads(item.value_json)
        elif kind == "config":
            for item in record.config.update:
                out["config"][item.key] = json.loads(item.value_json)
        elif kind == "summary":
            for item in record.summary.update:
                out["summary"][item.key or "/".join(item.nested_key)] = json.loads(item.value_json)
        elif kind == "history":
            out["history_keys"].update(item.key or "/".join(item.nested_key) for item in record.history.item)
        elif kind == "artifact":
            out["artifacts"].append({"name": record.artifact.name, "type": record.artifact.type,
                                     "files": [entry.path for entry in record.artifact.manifest.contents]})
    return out


def _leveldb_records(data: bytes, block: int = 32768) -> list[bytes]:
    """Payloads of a LevelDB log (FULL=1, FIRST=2, MIDDLE=3, LAST=4) after W&B's 7-byte file header."""
    if data[:4] != b":W&B":
        raise ValueError("not a W&B transaction log")
    payloads, pending, pos = [], b"", 7
    while pos + 7 <= len(data):
        if block - pos % block < 7:  # block trailer too small for a header: skip to the next block
            pos += block - pos % block
            continue
        length = int.from_bytes(data[pos + 4:pos + 6], "little")
        kind = data[pos + 6]
        body = data[pos + 7:pos + 7 + length]
        pos += 7 + length
        if kind == 0 and length == 0:  # zero padding at the end of a block
            pos += block - pos % block if pos % block else 0
            continue
        if kind == 1:
            payloads.append(body)
        elif kind == 2:
            pending = body
        elif kind == 3:
            pending += body
        elif kind == 4:
            payloads.append(pending + body)
            pending = b""
    return payloads
