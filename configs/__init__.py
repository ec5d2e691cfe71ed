"""Package data: shipped run configs (installed as ``bench.configs``; resolved by path, not imported)."""
