"""The documentation stays navigable: every paper with an adapter has its page, the README stays short, and every
relative link in the tracked Markdown resolves to a file."""
from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from helpers import REPO

README_LIMIT = 12_500  # bytes: the README keeps what a newcomer needs first; detail goes to the pages
# [text](target) and [text](target "title"); images too. Reference-style links are not used in this tree.
LINK = re.compile(r"\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")


def markdown_files(repo: Path = REPO) -> list[Path]:
    """README.md, docs/**/*.md, configs/**/README.md and results/**/*.md (git-tracked or not yet committed)."""
    files = [repo / "README.md", *repo.glob("docs/**/*.md"), *repo.glob("configs/**/README.md"),
             *repo.glob("results/**/*.md")]
    return sorted(p for p in files if p.is_file() and "runs" not in p.relative_to(repo).parts)


def broken_links(text: str, source: Path) -> list[str]:
    """Relative link targets in ``text`` (a file at ``source``) whose file part does not exist; web, mail and
    pure-anchor links are skipped, and ``file#anchor`` is checked for the file."""
    broken = []
    for match in LINK.finditer(re.sub(r"```.*?```", "", text, flags=re.S)):
        target = match.group(1)
        if re.match(r"^[a-z][a-z0-9+.-]*:", target, re.I) or target.startswith("#"):
            continue
        path = target.split("#", 1)[0].split("?", 1)[0]
        if not (source.parent / path).exists():
            broken.append(target)
    return broken


def test_every_paper_with_an_adapter_has_its_page():
    slugs = sorted(p.parent.name for p in (REPO / "methods").glob("*/status.toml"))
    assert len(slugs) >= 9
    missing = [s for s in slugs if not (REPO / "configs" / s / "README.md").is_file()]
    assert not missing, f"papers with methods/<slug>/status.toml but no configs/<slug>/README.md: {missing} " \
                        "(see docs/adding_a_paper.md)"
    readme = (REPO / "README.md").read_text()
    for slug in slugs:
        assert f"](configs/{slug}/README.md)" in readme, f"README's paper table does not link {slug}'s page"


def test_readme_is_short():
    size = len((REPO / "README.md").read_bytes())
    assert size < README_LIMIT, f"README.md is {size} bytes (limit {README_LIMIT}): move detail to a page"


def test_every_relative_link_resolves():
    files = markdown_files()
    assert REPO / "README.md" in files and any("docs" in p.parts for p in files)
    broken = {str(p.relative_to(REPO)): b for p in files if (b := broken_links(p.read_text(), p))}
    assert not broken, f"broken relative links (file: targets): {broken}"


def test_markdown_files_cover_the_tracked_ones():
    try:
        tracked = subprocess.run(["git", "ls-files", "*.md"], cwd=REPO, capture_output=True, text=True, check=True)
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("not a git checkout")
    wanted = {REPO / line for line in tracked.stdout.split()
              if line == "README.md" or line.startswith(("docs/", "results/"))
              or (line.startswith("configs/") and line.endswith("README.md"))}
    assert wanted <= set(markdown_files())


def test_the_link_check_finds_a_broken_link(tmp_path: Path):
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "a.md").write_text("x")
    text = ("[ok](docs/a.md) [ok anchor](docs/a.md#part) [web](https://example.org/x.md) [mail](mailto:a@b.c) "
            "[anchor](#top) [missing](docs/b.md) [missing anchor](nope.md#x) [dir](docs)\n"
            "```\n[in code](not/checked.md)\n```\n")
    assert broken_links(text, tmp_path / "README.md") == ["docs/b.md", "nope.md#x"]
    assert broken_links("[up](../README.md)", REPO / "docs" / "x.md") == []
