"""`updown store`: print the MLflow store the track stage logs to (what `make ui` opens)."""

from __future__ import annotations

import argparse
from pathlib import Path

from updown.config import load_params
from updown.redact import without_credentials
from updown.serve.store import tracking_uri


def run(a: argparse.Namespace) -> None:
    uri = tracking_uri(load_params(a.params).mlflow.tracking_uri, Path.cwd())
    # A database URI needs its password to open; a server's address is shown, never its login.
    print(without_credentials(uri) if uri.startswith("http") else uri)
