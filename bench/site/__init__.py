"""``bench site``: the leaderboard as a static HTML site (an index and one page per paper), rendered with Jinja2
from the reported numbers, the runs and the latest demo summary. See :mod:`bench.site.build` and docs/site.md."""
from bench.site.build import build_site, cell_texts, status_label

__all__ = ["build_site", "cell_texts", "status_label"]
