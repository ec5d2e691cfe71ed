"""The ``bench`` command line: run, train, score, validate, cost, reference, papers, table, leaderboard, site, sweep,
demo, reproduce."""
from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path
from typing import Any

from bench.precision import PRECISIONS

log = logging.getLogger("bench")


class _DictAction(argparse.Action):
    """mmengine's ``DictAction`` (``a.b=v`` pairs, lists as ``a=[1,2]``), imported only when the option is given:
    building the parser for ``bench papers`` imports no mmengine."""

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, values: Any,
                 option_string: str | None = None) -> None:
        from mmengine.config import DictAction

        DictAction(self.option_strings, self.dest, nargs=self.nargs, default=self.default)(
            parser, namespace, values, option_string)


def _config_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("config", help="config file, or a path under configs/ (e.g. demo/harness_digits)")
    parser.add_argument("--cfg-options", nargs="+", action=_DictAction, default={},
                        help="override config values: a.b=v (lists as a=[1,2])")


def _wandb_args(parser: argparse.ArgumentParser) -> None:
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--wandb", dest="wandb", action="store_const", const="online",
                       help="mirror to W&B online (default: $WANDB_MODE, else offline)")
    group.add_argument("--no-wandb", dest="wandb", action="store_const", const="disabled", help="no W&B mirror")
    group.add_argument("--wandb-mode", dest="wandb", choices=["online", "offline", "disabled"])


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="bench", description=__doc__)
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("run", help="evaluate a config (plain python, torchrun or Slurm)")
    _config_args(p)
    _wandb_args(p)
    p.add_argument("--resume", action="store_true", help="continue a run, skipping stored samples")
    p.add_argument("--limit", type=int, help="first N samples only: a partial smoke run")
    p.add_argument("--work-dir", help="run directory (default results/runs/<paper>/<name>-<hash>)")
    p.add_argument("--no-progress", action="store_true")

    p = sub.add_parser("train", help="run only the config's train stage (resumable; its folder is keyed by content "
                                     "under the results root, which BENCH_RESULTS_DIR moves)")
    _config_args(p)

    p = sub.add_parser("score", help="recompute metrics from a run's stored outputs")
    p.add_argument("run_dir")
    _wandb_args(p)

    p = sub.add_parser("validate", help="build dataset, method and one batch; report problems")
    _config_args(p)

    p = sub.add_parser("cost", help="parameters, multiply-adds and forward throughput of a config's model")
    _config_args(p)
    p.add_argument("--input-shape", default="3,224,224", help="C,H,W of the synthetic input (default 3,224,224)")
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--precision", choices=PRECISIONS, default="fp32",
                   help="autocast dtype as run.precision: fp32 (what VSSD's paper reports) or fp16 (its repository's "
                        "CUDA amp) or bf16")
    p.add_argument("--warmup", type=int, default=50)
    p.add_argument("--iters", type=int, default=30)

    p = sub.add_parser("reference", help="build reference statistics (FID/sFID/KID/PR) from a folder of images")
    p.add_argument("images", type=Path, help="folder of .png/.jpg images (searched recursively, one size)")
    p.add_argument("--out", type=Path, required=True, help="statistics file to write (.npz)")
    p.add_argument("--weights", help="Inception weights file (weights-inception-2015-12-05-6726825d.pth)")
    p.add_argument("--extractor", type=json.loads,
                   help='another extractor as JSON, e.g. \'{"type": "TimmClassifierFeatures", "model_name": '
                   '"resnet152", "checkpoint": "..."}\'')
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--center-crop", type=int, metavar="SIZE",
                   help="center-crop every image to SIZE x SIZE as ADM does (box halving, bicubic short side, centre "
                        "square), e.g. 256 for MSCOCO val images; without it all images must share one size")
    p.add_argument("--device", default="auto")

    p = sub.add_parser("papers", help="list the papers and what is implemented")
    p.add_argument("--json", action="store_true")

    p = sub.add_parser("table", help="a paper's table: reported vs reproduced")
    p.add_argument("paper", nargs="?", help="paper slug")
    p.add_argument("--format", choices=["md", "csv", "latex"], default="md")
    p.add_argument("--runs", nargs="+", type=Path, help="run roots (default results/reproduced results/runs)")
    p.add_argument("--write", action="store_true",
                   help="regenerate results/tables/<slug>.md for every paper from results/reproduced")

    p = sub.add_parser("leaderboard", help="summary of every paper's table, and of runs with --runs")
    p.add_argument("--format", choices=["md", "csv", "latex"], default="md")
    p.add_argument("--runs", nargs="+", type=Path)

    p = sub.add_parser("site", help="the leaderboard as a static HTML site (index and one page per paper; no server, "
                                    "opens from file://)")
    p.add_argument("--runs", nargs="+", type=Path, help="run roots (default results/reproduced results/runs)")
    p.add_argument("--out", type=Path, help="site folder (default <results dir>/site; replaced on every call)")

    p = sub.add_parser("sweep", help="run a grid of configs on Ray")
    _config_args(p)
    _wandb_args(p)
    p.add_argument("--grid", nargs="+", help="key=v1,v2 ... (default: the config's sweep=dict(grid={...}))")
    p.add_argument("--address", help="Ray cluster address (default: a local Ray)")
    p.add_argument("--sweep-dir", type=Path)
    p.add_argument("--local", action="store_true", help="run the points one after another here, without Ray")

    p = sub.add_parser("demo", help="run every paper's quick demo on CPU (about 5 minutes), then say what each showed")
    p.add_argument("--only", nargs="+", help="demo groups (paper slugs, or 'harness')")
    p.add_argument("--full", action="store_true", help="the full profile: configs/demo/full/, today's longer demos")
    p.add_argument("--no-progress", action="store_true", help="no progress bars (they show only on a terminal)")
    p.add_argument("--results-dir", type=Path,
                   help="results root for the demo runs (default $BENCH_RESULTS_DIR or ./results)")
    _wandb_args(p)

    p = sub.add_parser("reproduce", help="plan, check, run every config that fills a paper's reported cells, and "
                                         "write its table")
    p.add_argument("paper", help="paper slug (see `bench papers`)")
    p.add_argument("--table", help="only the cells of this reported table")
    p.add_argument("--dry-run", action="store_true",
                   help="plan and check files only; exit 1 when anything is missing")
    p.add_argument("--demo", action="store_true", help="the paper's demo configs (configs/demo/<paper>_*.py)")
    p.add_argument("--address", help="run on the Ray cluster at this address (default: in this process)")
    p.add_argument("--max-parallel", type=int,
                   help="steps at once on Ray: above 1 starts a local Ray (default: one after another in this "
                        "process; with --address, a whole dependency level at once)")
    _wandb_args(p)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="[bench] %(message)s")
    for noisy in ("mmengine", "urllib3", "wandb"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    try:
        return _dispatch(args)
    except Exception as error:
        if args.debug:
            raise
        if not isinstance(error, (ValueError, FileNotFoundError)):  # user errors, known without importing ...
            from bench.errors import USER_ERRORS  # ... every module that defines one (the runner: torch)

            if not isinstance(error, USER_ERRORS):
                raise
        print(f"bench {args.command}: error: {user_message(error)}", file=sys.stderr)
        return 2
    except BaseException as error:  # SIGINT or SIGTERM stopped a run: not a traceback
        runner = sys.modules.get("bench.runner")  # imported by every command that can be interrupted mid-run
        if runner is None or not isinstance(error, runner.RunInterrupted) or args.debug:
            raise
        print(f"bench {args.command}: {error}", file=sys.stderr)  # samples stored and the resume command
        return error.exit_code


def user_message(error: BaseException) -> str:
    """The error's message; one re-raised from a DataLoader worker carries the worker's traceback in its text
    (torch's ``"Caught X in DataLoader worker process N. Original Traceback ..."``): only the original message
    is kept, with where it was raised."""
    from bench.data import without_worker_traceback

    return without_worker_traceback(str(error), type(error).__name__)


def _dispatch(args: argparse.Namespace) -> int:
    """Run one command; each branch imports what it needs (`bench papers` no torch, mmengine or method code)."""
    if args.command in ("run", "train", "validate", "sweep", "cost"):
        from bench.config import load_config

        options = dict(args.cfg_options)
        if getattr(args, "limit", None) is not None:
            options["run.limit"] = args.limit
        if getattr(args, "work_dir", None) and args.command == "run":
            options["run.work_dir"] = args.work_dir
        cfg = load_config(args.config, options) if args.command != "sweep" else None

    if args.command == "run":
        from bench.runner import evaluate

        run_dir = evaluate(cfg, resume=args.resume, wandb_mode=args.wandb, progress=not args.no_progress)
        if _print_run(run_dir).get("publish_errors"):
            return 1
    elif args.command == "train":
        from bench.runner import train

        print(train(cfg))
    elif args.command == "score":
        from bench.runner import score

        results = score(args.run_dir, wandb_mode=args.wandb or "disabled")
        print(json.dumps(results["metrics"], indent=2, sort_keys=True))
        if _publish_errors(results, args.run_dir):
            return 1
    elif args.command == "validate":
        from bench.runner import validate

        print(json.dumps(validate(cfg), indent=2))
        print("ok: dataset, method and one batch built")
    elif args.command == "cost":
        print(json.dumps(_model_cost(cfg, args), indent=2))
    elif args.command == "reference":
        print(json.dumps(_build_reference(args), indent=2))
    elif args.command == "papers":
        from bench.catalogue import catalogue

        entries = catalogue()
        if args.json:
            print(json.dumps(entries, indent=2))
        else:
            from bench import tables

            rows = [{k: e[k] for k in ("slug", "task_family", "status", "reported_numbers", "configured_numbers")}
                    | {"configs": len(e["configs"]), "demo": len(e["demo_configs"])} for e in entries]
            print(tables.render(rows, "md"))
    elif args.command == "table":
        from bench import tables

        if args.write:
            for path in write_tables():
                print(path)
        elif not args.paper:
            raise ValueError("bench table needs a paper slug (see `bench papers`), or --write")
        else:
            print(tables.render_paper(args.paper, args.format, args.runs))
    elif args.command == "leaderboard":
        from bench import tables

        print(tables.render(tables.leaderboard_rows(args.runs), args.format, title="Papers"))
        if args.runs:
            from bench.results import find_runs

            print(tables.render(tables.runs_table(find_runs(*args.runs)), args.format, title="Runs"))
    elif args.command == "site":
        from bench.site import build_site  # Jinja2 is imported here only: `bench` itself starts without it

        print(build_site(args.out, args.runs) / "index.html")
    elif args.command == "sweep":
        from bench import tables
        from bench.sweep import config_grid, parse_grid, sweep

        grid = parse_grid(args.grid) if args.grid else config_grid(load_config(args.config, dict(args.cfg_options)))
        frame = sweep(args.config, grid, dict(args.cfg_options), address=args.address,
                      wandb_mode=args.wandb, sweep_dir=args.sweep_dir, local=args.local)
        print(tables.render(frame.drop(columns=["run_dir"]), "md"))
    elif args.command == "demo":
        from bench.demo import render_report, run_demo

        report = run_demo(args.only, full=args.full, wandb_mode=args.wandb, results_dir=args.results_dir,
                          progress=not args.no_progress)
        print("\n" + render_report(report), end="")
        from bench.site import build_site

        print(f"\nsite: {build_site(results_dir=args.results_dir) / 'index.html'}")
        if report.failed:
            print(f"bench demo: {len(report.failed)} group(s) failed: {', '.join(g.group for g in report.failed)}",
                  file=sys.stderr)
            return 1
    elif args.command == "reproduce":
        return _reproduce(args)
    return 0


def _reproduce(args: argparse.Namespace) -> int:
    """``bench reproduce``: print the plan and the preflight checklist; unless ``--dry-run``, run what is not
    blocked by a missing file, write the table and the summary. Exit 1 when anything is missing or failed."""
    from bench.reproduce import execute, plan, preflight, render_preflight, table_text, write_report

    if args.max_parallel is not None and args.max_parallel < 1:
        raise ValueError(f"--max-parallel must be at least 1, got {args.max_parallel}")
    the_plan = plan(args.paper, args.table, demo=args.demo)
    checked = preflight(the_plan)
    print(render_preflight(the_plan, checked))
    if args.dry_run:
        return 1 if checked.missing else 0
    outcomes = execute(the_plan, blocked=checked.blocked(the_plan), address=args.address,
                       max_parallel=args.max_parallel, wandb_mode=args.wandb)
    folder = write_report(the_plan, outcomes, checked)
    print("\n" + table_text(the_plan, outcomes, "md"))
    counts = {s: sum(o.status == s for o in outcomes) for s in ("ran", "skipped", "failed")}
    print(f"bench reproduce {the_plan.name}: " + ", ".join(f"{k} {v}" for k, v in counts.items())
          + f"; table and summary in {folder}")
    return 1 if counts["failed"] or checked.missing else 0


def _model_cost(cfg, args: argparse.Namespace) -> dict:  # noqa: ANN001 - an mmengine Config
    """``bench cost``: build the config's method, then measure its ``model`` on a synthetic batch; the record is
    also written to ``<results root>/runs/<group>/cost/``."""
    from bench.config import to_plain
    from bench.io import atomic_write_json
    from bench.registry import METHODS
    from bench.results import results_root
    from bench.runner import pick_device
    from bench.throughput import model_cost

    from bench.upstream import resolve, section

    resolve(cfg, mode="require")  # a teacher or backbone from another config must exist already
    method = METHODS.build(section(cfg, "method"))
    device = pick_device(cfg.run.device)
    method.setup(device, seed=int(cfg.run.seed))
    model = getattr(method, "model", None)
    if model is None:
        raise ValueError(f"{cfg.method.type} has no `model` attribute to measure")
    try:
        shape = tuple(int(v) for v in args.input_shape.split(","))
    except ValueError:
        raise ValueError(f"--input-shape takes C,H,W integers (e.g. 3,224,224), got {args.input_shape!r}") from None
    record = {"config": cfg.name, "method": to_plain(cfg.method),
              **model_cost(model, shape, args.batch_size, device, args.precision, args.warmup, args.iters)}
    group = cfg.paper.slug if cfg.get("paper") else "demo"
    name = f"{cfg.name}-{record['device'].replace(' ', '_')}-{args.precision}-b{args.batch_size}.json"
    atomic_write_json(results_root() / "runs" / group / "cost" / name, record)
    return record


def _build_reference(args: argparse.Namespace) -> dict:
    """``bench reference``: featurise every image under a folder and write our reference statistics file."""
    from bench.registry import EXTRACTORS
    from bench.tasks.generation.reference import build_reference, image_folder_batches, list_images
    from bench.runner import pick_device

    if not args.images.is_dir():
        raise FileNotFoundError(f"bench reference: image folder {args.images} does not exist (or is not a folder)")
    if (args.weights is None) == (args.extractor is None):
        raise ValueError("bench reference: give --weights (Inception) or --extractor (JSON spec), not both")
    spec = args.extractor or {"type": "InceptionV3Features", "weights": args.weights}
    extractor = EXTRACTORS.build(dict(spec)).to(pick_device(args.device))
    meta = {"extractor": extractor.describe(), "source": {"images_dir": str(args.images.resolve()),
                                                          "num_files": len(list_images(args.images)),
                                                          "center_crop": args.center_crop}}
    reference = build_reference(image_folder_batches(args.images, args.batch_size, args.center_crop), extractor, meta)
    reference.save(args.out)
    return {"out": str(args.out), "sha256": reference.sha256, "num_samples": reference.num_samples,
            "extractor": meta["extractor"]["name"]}


def write_tables(root: Path | None = None, pages: Path | None = None) -> list[Path]:
    """Regenerate ``results/tables/<slug>.md`` from the reported files and committed reproductions, and the same
    table in each paper page ``<pages>/<slug>/README.md`` that exists (``pages``: default the configs folder)."""
    from bench import tables
    from bench.config import configs_root
    from bench.io import atomic_write_text
    from bench.reported import all_slugs
    from bench.results import results_root

    base = root or results_root()
    pages = pages or configs_root()
    written = []
    for slug in all_slugs():
        text = tables.render_paper(slug, "md", [base / "reproduced"])
        written.append(atomic_write_text(base / "tables" / f"{slug}.md", text))
        page = pages / slug / "README.md"
        if page.is_file():
            old = page.read_text()
            new = tables.with_page_table(old, text, page)
            written.append(atomic_write_text(page, new) if new != old else page)
    return written


def _print_run(run_dir: Path) -> dict[str, Any]:
    from bench.results import read_results

    results = read_results(run_dir)
    label = " (smoke)" if results["smoke"] else ""
    print(f"{results['run_id']}: {results['status']}{label}  {run_dir}")
    print(json.dumps(results["metrics"], indent=2, sort_keys=True))
    _publish_errors(results, run_dir)
    return results


def _publish_errors(results: dict[str, Any], run_dir: Path) -> bool:
    """Say on stderr which figures or exports failed (the scores in results.json stand); True if any did."""
    for kind, error in sorted(results.get("publish_errors", {}).items()):
        print(f"error: writing {kind} failed: {error}; the scores are in {run_dir}/results.json; "
              f"fix the cause and rerun `bench score {run_dir}`", file=sys.stderr)
    return bool(results.get("publish_errors"))


if __name__ == "__main__":
    sys.exit(main())
