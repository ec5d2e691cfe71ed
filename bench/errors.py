"""Errors that are the user's to fix: the CLI prints their message (no traceback) and exits with 2."""
from __future__ import annotations

from bench.checkpoint import CheckpointError
from bench.config import ConfigError
from bench.data import DatasetLayoutError
from bench.registry import UnknownNameError
from bench.reported import ReportedError
from bench.runner import RunExistsError
from bench.store import StoreError

USER_ERRORS: tuple[type[BaseException], ...] = (
    CheckpointError, ConfigError, DatasetLayoutError, UnknownNameError, ReportedError, RunExistsError, StoreError,
    FileNotFoundError, ValueError, TypeError, KeyError,
)
