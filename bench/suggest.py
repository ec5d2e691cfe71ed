"""Did-you-mean suggestions for misspelt names (config keys, registry entries, paper slugs); imports nothing heavy."""
from __future__ import annotations

import difflib


def suggest(name: str, choices: list[str] | tuple[str, ...], n: int = 3) -> str:
    """``" Did you mean 'x' or 'y'?"`` for the closest choices, or an empty string."""
    lowered = {c.lower(): c for c in choices}
    close = difflib.get_close_matches(name.lower(), list(lowered), n=n, cutoff=0.5)
    if not close:
        return ""
    return " Did you mean " + " or ".join(repr(lowered[c]) for c in close) + "?"
