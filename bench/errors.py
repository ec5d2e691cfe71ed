"""Errors that are the user's to fix: the CLI prints their message (no traceback) and exits with 2."""
from __future__ import annotations

from bench.checkpoint import CheckpointError
from bench.config import ConfigError
from bench.data import DatasetLayoutError
from bench.registry import RegistryConfigError, UnknownNameError
from bench.reported import ReportedError
from bench.runlock import RunFolderError
from bench.runner import RunExistsError
from bench.store import StoreError

# ValueError covers bad arguments (a split name, a grid); other exceptions are bugs and keep their traceback.
USER_ERRORS: tuple[type[BaseException], ...] = (
    CheckpointError, ConfigError, DatasetLayoutError, RegistryConfigError, UnknownNameError, ReportedError,
    RunExistsError, RunFolderError, StoreError, FileNotFoundError, ValueError,
)
