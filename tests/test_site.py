"""bench site: a site rendered from fixture results (tests/site_fixture.py: every cell status, every paper status,
an empty paper, runs with figures, a demo summary), read back from the parsed HTML."""
from __future__ import annotations

import fnmatch
import json
import subprocess
import sys
import tomllib
from pathlib import Path
from urllib.parse import unquote

import pytest

from bench.cli import main
from bench.site import build_site, cell_texts
from bench.site.build import MARKER, STATIC_FILES
from bench.tables import STATUSES, leaderboard_rows, render, render_paper
from helpers import REPO
from site_fixture import ALPHA_COUNTS, LABELS, PAPERS, Node, SiteTree, make_tree, parse_html, png_bytes, write_run


@pytest.fixture
def tree(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> SiteTree:
    return make_tree(tmp_path, monkeypatch)


@pytest.fixture
def site(tree: SiteTree) -> Path:
    return build_site(results_dir=tree.results)


def page(site: Path, name: str) -> Node:
    return parse_html((site / name).read_text(encoding="utf-8"))


def body_rows(table: Node) -> list[list[Node]]:
    (body,) = table.iter("tbody")
    return [row.iter("th", "td") for row in body.iter("tr")]


def markdown_table(text: str) -> tuple[list[str], list[list[str]]]:
    """Header and cells of the pipe table ``bench table`` prints (the lines starting with ``|``)."""
    lines = [line for line in text.splitlines() if line.startswith("|")]
    split = [[cell.strip() for cell in line.strip().strip("|").split("|")] for line in lines]
    return (split[0], split[2:]) if split else ([], [])


def test_index_lists_every_paper_with_its_status_counts_and_demo(site: Path, tree: SiteTree):
    index = page(site, "index.html")
    (papers,) = [t for t in index.iter("table") if "papers" in t.classes()]
    header = [th.text() for th in papers.iter("thead")[0].iter("th")]
    assert header == ["paper", "title", "task family", "status", "reported", *STATUSES, "demo"]
    rows = {row[0].text(): [cell.text() for cell in row] for row in body_rows(papers)}
    assert sorted(rows) == sorted(PAPERS)
    board = {row["paper"]: row for row in leaderboard_rows(tree.roots)}  # what `bench leaderboard` prints
    for slug, cells in rows.items():
        assert cells[3] == LABELS[slug]
        assert [int(c) for c in cells[4:5 + len(STATUSES)]] == [board[slug]["reported"]] + \
            [board[slug][s] for s in STATUSES]
        assert cells[-1] == ("yes" if slug == "alpha" else "no")
    assert dict(zip(STATUSES, map(int, rows["alpha"][5:11]), strict=True)) == ALPHA_COUNTS
    assert rows["delta"][4:11] == ["0"] * 7  # the empty paper
    (demos,) = [t for t in index.iter("table") if "demos" in t.classes()]
    demo_rows = {row[0].text(): [cell.text() for cell in row] for row in body_rows(demos)}
    assert demo_rows["alpha"][1:3] == ["accuracy 0.8125; steps 20", "the toy learns: 81.2% accuracy"]
    assert demo_rows["harness"][2] == "FAILED (harness_digits): RuntimeError: boom"


@pytest.mark.parametrize("slug", PAPERS)
def test_site_tables_equal_bench_table(site: Path, tree: SiteTree, slug: str):
    """One source of truth: per table id, the site's header and cells are `bench table`'s, cell for cell."""
    header, cells = markdown_table(render_paper(slug, "md", tree.roots))
    tables = [t for t in page(site, f"{slug}.html").iter("table") if "data-table" in t.attrs]
    assert sum(len(body_rows(t)) for t in tables) == len(cells)
    for table in tables:
        assert [th.text() for th in table.iter("thead")[0].iter("th")] == [c for c in header if c != "table"]
        expected = [[c for c, name in zip(row, header, strict=True) if name != "table"] for row in cells
                    if row[header.index("table")] == table.attrs["data-table"]]
        assert [[cell.text() for cell in row] for row in body_rows(table)] == expected
    if slug == "delta":
        assert not tables and "_no reported numbers_" in render_paper(slug, "md", tree.roots)


def test_paper_page_shows_statuses_as_colour_and_text_with_sources(site: Path):
    alpha = page(site, "alpha.html")
    tables = {t.attrs["data-table"]: t for t in alpha.iter("table") if "data-table" in t.attrs}
    assert list(tables) == ["main", "ablation"]
    columns = [th.text() for th in tables["main"].iter("thead")[0].iter("th")]
    rows = {(r[0].text(), r[columns.index("metric")].text()): r for r in body_rows(tables["main"])}
    expected = {("dataset=GTEA", "Acc"): "match", ("dataset=GTEA", "Edit"): "within tolerance",
                ("dataset=GTEA", "F1@10"): "mismatch", ("dataset=50Salads", "Acc"): "missing",
                ("dataset=50Salads", "Edit"): "smoke", ("dataset=GTEA", "F1@50"): "unreported"}
    status_at, source_at = columns.index("status"), columns.index("source")
    for key, status in expected.items():
        cell = rows[key][status_at]
        assert cell.text() == status and f"status-{status.replace(' ', '-')}" in cell.classes()
    assert [rows[k][source_at].text() for k in expected] == ["paper", "secondary: a survey", "paper",
                                                           "official README", "paper", ""]
    assert rows[("dataset=GTEA", "Edit")][columns.index("delta")].text() == "0.4"
    assert rows[("dataset=GTEA", "Edit")][columns.index("tolerance")].text() == "0.5"
    notes = [p.text() for p in alpha.iter("p") if "notes" in p.classes()]
    assert notes == ["A <fixture> note & more."]  # escaped in the HTML, read back as written


def test_links_resolve_images_have_alt_and_nothing_loads_from_the_network(site: Path):
    pages = sorted(site.glob("*.html"))
    assert {p.stem for p in pages} == {"index", *PAPERS}
    for path in pages:
        doc = page(site, path.name)
        ids = {node.attrs["id"] for node in doc.iter() if "id" in node.attrs}
        for node in doc.iter():
            for attr in ("href", "src"):
                url = node.attrs.get(attr)
                if url is None:
                    continue
                assert "://" not in url and not url.startswith("//"), f"{path.name}: <{node.tag} {attr}={url}>"
                target, _, fragment = url.partition("#")
                if not target:
                    assert fragment in ids, f"{path.name}: anchor #{fragment} missing"
                    continue
                file = (site / unquote(target)).resolve()
                assert file.is_file() and site.resolve() in file.parents, f"{path.name}: {url} does not resolve"
        for img in doc.iter("img"):
            assert img.attrs.get("alt", "").strip(), f"{path.name}: {img.attrs['src']} has no alt text"
        for table in doc.iter("table"):
            assert table.iter("caption") and table.iter("caption")[0].text()
            assert all(th.attrs.get("scope") == "col" for th in table.iter("thead")[0].iter("th"))
            assert all(th.attrs.get("scope") == "row" for th in table.iter("tbody")[0].iter("th"))
        heads = doc.iter("link") + doc.iter("script")
        assert sorted(n.attrs.get("href") or n.attrs["src"] for n in heads) == ["static/site.css", "static/sort.js"]
    assert sorted(p.name for p in (site / "static").iterdir()) == sorted(STATIC_FILES)


def test_runs_are_copied_and_linked_with_their_figures(site: Path, tree: SiteTree):
    alpha = page(site, "alpha.html")
    runs = {node.attrs["id"]: node for node in alpha.iter("article")}
    assert list(runs) == ["run-demo-alpha_toy-eeee",  # the demo's run, then the paper's runs newest first
                          "run-alpha-alpha_edit-bbbb", "run-alpha-alpha_f1-cccc", "run-alpha-alpha_smoke-dddd",
                          "run-alpha-alpha_main-aaaa"]
    for anchor, run in runs.items():
        links = {a.text(): a.attrs["href"] for a in run.iter("a") if a.attrs["href"].endswith(".json")}
        source = next(tree.results.rglob(f"{anchor.split('-', 2)[2]}/results.json"))
        assert (site / links["results.json"]).read_bytes() == source.read_bytes()
        if "provenance.json" in links:
            assert (site / links["provenance.json"]).read_bytes() == (source.parent / "provenance.json").read_bytes()
        else:
            assert anchor == "run-alpha-alpha_edit-bbbb" and "no provenance.json in the run folder" in run.text()
    images = {img.attrs["alt"]: img.attrs["src"] for img in alpha.iter("img")}
    assert images == {
        "samples from the alpha demo": "files/runs/demo/alpha_toy-eeee/figures/samples.png",
        "barcode of run alpha_edit-bbbb": "files/runs/alpha/alpha_edit-bbbb/figures/barcode.png",
        "extra_grid of run alpha_smoke-dddd": "files/runs/alpha/alpha_smoke-dddd/figures/extra_grid.png",
        "reliability of run alpha_main-aaaa": "files/runs/alpha/alpha_main-aaaa/figures/reliability.png"}
    assert all((site / src).read_bytes() == png_bytes(*(4, 4) if "extra" in src else ()) for src in images.values())
    assert "overlay: gone/overlay.png is listed in results.json but missing" in runs["run-alpha-alpha_edit-bbbb"].text()
    columns = [th.text() for th in alpha.iter("thead")[0].iter("th")]
    links = {a.text(): a.attrs["href"] for row in body_rows(alpha.iter("table")[0])
             for a in row[columns.index("run_id")].iter("a")}
    assert links == {"alpha_main-aaaa": "#run-alpha-alpha_main-aaaa", "alpha_edit-bbbb": "#run-alpha-alpha_edit-bbbb",
                     "alpha_f1-cccc": "#run-alpha-alpha_f1-cccc"}
    demo = alpha.text()
    assert "the toy learns: 81.2% accuracy" in demo and "quick profile, 2.5 s" in demo


def facts(doc: Node) -> dict[str, str]:
    """The paper page's facts list (``dt`` -> ``dd``)."""
    (facts_list,) = [dl for dl in doc.iter("dl") if "paper-facts" in dl.classes()]
    terms = facts_list.iter("dt", "dd")
    return {dt.text(): dd.text() for dt, dd in zip(terms[::2], terms[1::2], strict=True)}


def test_empty_and_not_started_papers(site: Path):
    delta = page(site, "delta.html")
    text = delta.text()
    assert "No reported numbers for this paper, and no run fills a cell." in text and "No demo for this paper." in text
    assert facts(delta)["status"] == "not started"
    assert facts(delta)["bench papers says"] == "not started: reported numbers only"
    assert [li.text() for li in delta.iter("li")] == ["delta: the appendix numbers: unknown."]
    gamma = facts(page(site, "gamma.html"))
    assert gamma["status"] == "in progress (re-implementation)"
    assert gamma["bench papers says"] == "in progress: the fixture adapter is unfinished"
    assert facts(page(site, "alpha.html"))["cells"] == ", ".join(f"{s} {n}" for s, n in ALPHA_COUNTS.items())


def test_cli_replaces_its_own_site_and_refuses_other_folders(tree: SiteTree, monkeypatch: pytest.MonkeyPatch,
                                                              capsys: pytest.CaptureFixture):
    monkeypatch.setenv("BENCH_RESULTS_DIR", str(tree.results))
    assert main(["site"]) == 0
    out = tree.results / "site"
    assert capsys.readouterr().out.strip() == str(out / "index.html") and (out / MARKER).is_file()
    (out / "stale.html").write_text("from an older site")
    custom = tree.results.parent / "published"
    assert main(["site", "--runs", str(tree.runs), "--out", str(custom)]) == 0
    assert (custom / "index.html").is_file()
    assert "alpha_main-aaaa" not in (custom / "alpha.html").read_text()  # only the run root given
    assert main(["site"]) == 0 and not (out / "stale.html").exists()
    capsys.readouterr()
    other = tree.results.parent / "notes"
    other.mkdir()
    (other / "mine.txt").write_text("keep me")
    assert main(["site", "--out", str(other)]) == 2
    assert "is not a site written by `bench site`" in capsys.readouterr().err and (other / "mine.txt").is_file()
    assert main(["site", "--out", str(tree.runs / "site")]) == 2
    assert "overlap" in capsys.readouterr().err


def test_a_failed_render_keeps_the_previous_site(site: Path, tree: SiteTree):
    before = (site / "index.html").read_bytes()
    broken = tree.runs / "alpha" / "broken"
    broken.mkdir()
    (broken / "results.json").write_text(json.dumps({"schema_version": 0}))
    with pytest.raises(ValueError, match="broken/results.json: schema_version 0"):
        build_site(results_dir=tree.results)
    assert (site / "index.html").read_bytes() == before
    assert [p.name for p in site.parent.iterdir() if p.name.endswith(".tmp")] == []


def test_bench_demo_ends_by_writing_the_site(tree: SiteTree, monkeypatch: pytest.MonkeyPatch,
                                             capsys: pytest.CaptureFixture):
    import bench.demo
    from bench.demo import DemoReport, DemoSummary, GroupOutcome

    outcome = GroupOutcome("alpha", ["alpha_toy"], 1.0, summary=DemoSummary({"accuracy": 0.5}, "ran"))
    monkeypatch.setattr(bench.demo, "run_demo", lambda *args, **kwargs: DemoReport([outcome]))
    assert main(["demo", "--no-wandb", "--results-dir", str(tree.results)]) == 0
    last = capsys.readouterr().out.strip().splitlines()[-1]
    assert last == f"site: {tree.results / 'site' / 'index.html'}" and (tree.results / "site" / "alpha.html").is_file()


def test_cell_texts_are_tabulates_for_every_column_type():
    """Floats in g format (a float column prints 12.0 as 12), ints, blanks, numeric-looking strings, mixed text;
    the golden texts are checked against `bench table`'s own Markdown of the same rows."""
    rows = [{"a": 1234567.0, "b": 3, "c": "007", "d": None, "e": "x", "f": 0.000012345},
            {"a": 12.0, "b": 40, "c": "12", "d": 2.5, "e": "1.50", "f": None},
            {"a": 0.1 + 0.2, "b": None, "c": "", "d": None, "e": " padded ", "f": 1e-12}]
    columns, texts = cell_texts(rows)
    assert (columns, texts) == (["a", "b", "c", "d", "e", "f"], [
        ["1.23457e+06", "3", "007", "", "x", "1.2345e-05"],  # tabulate 0.10 keeps leading zeros
        ["12", "40", "12", "2.5", "1.50", ""],
        ["0.3", "", "", "", "padded", "1e-12"]])
    assert markdown_table(render(rows, "md"))[1] == texts
    assert cell_texts([{"note": "two\nlines"}, {"note": "one"}])[1] == [["two\nlines"], ["one"]]


def test_templates_and_static_files_are_package_data():
    """CI installs bench as a regular wheel: every template and asset must match a package-data pattern."""
    patterns = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]["bench.site"]
    folder = REPO / "bench" / "site"
    shipped = [p.relative_to(folder).as_posix() for p in folder.rglob("*")
               if p.is_file() and p.suffix != ".py" and "__pycache__" not in p.parts]
    assert {"templates/index.html", "templates/paper.html", "static/site.css", "static/sort.js"} <= set(shipped)
    assert [f for f in shipped if not any(fnmatch.fnmatch(f, pattern) for pattern in patterns)] == []


def test_a_run_id_in_two_roots_gets_two_folders(tree: SiteTree):
    write_run(tree.runs, "alpha_main-aaaa", [("main", "GTEA", "Acc", 80.34)], created="2026-01-01T00:00:00+00:00")
    site = build_site(results_dir=tree.results)
    hrefs = [a.attrs["href"] for a in page(site, "alpha.html").iter("a") if a.text() == "results.json"]
    assert sorted(h for h in hrefs if "alpha_main" in h) == [
        "files/runs/alpha/alpha_main-aaaa-2/results.json", "files/runs/alpha/alpha_main-aaaa/results.json"]


def test_shipped_papers_and_committed_reproductions_render_as_bench_table(tmp_path: Path):
    """The real catalogue: all seventeen papers, their tables equal to `bench table` over results/reproduced."""
    from bench.reported import all_slugs

    roots = [REPO / "results" / "reproduced"]
    site = build_site(out=tmp_path / "site", run_roots=roots, results_dir=tmp_path)
    slugs = all_slugs()
    assert len(slugs) == 17 and sorted(p.stem for p in site.glob("*.html")) == sorted([*slugs, "index"])
    for slug in slugs:
        header, cells = markdown_table(render_paper(slug, "md", roots))
        tables = [t for t in page(site, f"{slug}.html").iter("table") if "data-table" in t.attrs]
        site_rows = {t.attrs["data-table"]: [[c.text() for c in row] for row in body_rows(t)] for t in tables}
        by_table: dict[str, list[list[str]]] = {}
        for row in cells:
            by_table.setdefault(row[header.index("table")], []).append(
                [c for c, name in zip(row, header, strict=True) if name != "table"])
        assert site_rows == by_table, slug


def test_bench_starts_without_jinja2():
    """Jinja2 is imported by `bench site` only: building the CLI (what every command does first) leaves it out."""
    code = "import sys, bench.cli; bench.cli.build_parser(); print(sorted(m for m in sys.modules if 'jinja2' in m))"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout == "[]\n"
