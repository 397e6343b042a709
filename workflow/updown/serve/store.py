"""Where the MLflow runs go: the tracking URI, and the lock that lets pipelines share a sqlite
store."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from updown.io import exclusive_lock


def tracking_uri(configured: str | None, root: Path) -> str:
    """params mlflow.tracking_uri, else $MLFLOW_TRACKING_URI, else sqlite:///<root>/mlflow.db."""
    return (
        configured
        or os.environ.get("MLFLOW_TRACKING_URI")
        or f"sqlite:///{root.resolve() / 'mlflow.db'}"
    )


def store_lock(uri: str) -> contextlib.AbstractContextManager[None]:
    """Pipelines sharing one sqlite store take turns: at once, they race MLflow's schema and
    experiment creation ("table experiments already exists") and sqlite's single writer lock.
    A server store (http...) serialises for itself."""
    if not uri.startswith("sqlite:///"):
        return contextlib.nullcontext()
    database = uri.removeprefix("sqlite:///").split("?", 1)[0]
    return exclusive_lock(f"{database}.lock")
