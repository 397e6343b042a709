"""Track: what goes into an MLflow run (params, metrics, curves, tags), where it goes, and that
no credential reaches a param, an artifact, a log line or an error."""

from __future__ import annotations

import logging
import socket
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml
from conftest import REPO
from updown.redact import redact, scrub, scrubbed_logs, secrets_of, without_credentials
from updown.serve.lineage import git_state, orchestrator
from updown.serve.mlflow_values import curve_to_log, metrics_to_log, params_to_log, safe_name
from updown.serve.run_files import stage_artifacts
from updown.serve.store import create_new_store, sqlite_path, tracking_uri
from updown.serve.track import _short_error


def closed_port() -> int:
    """A port nothing listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_every_key_of_params_yaml_becomes_one_dotted_param() -> None:
    raw = yaml.safe_load((REPO / "params.yaml").read_text())
    logged = params_to_log(raw, [])

    def leaves(tree: dict, prefix: str = "") -> list[str]:
        out = []
        for k, v in tree.items():
            out += leaves(v, f"{prefix}{k}.") if isinstance(v, dict) and v else [f"{prefix}{k}"]
        return out

    assert sorted(logged) == sorted(safe_name(k) for k in leaves(raw))
    assert logged["data.tickers"] == '["^GSPC", "^IXIC"]'
    assert logged["train.learning_rate"] == str(raw["train"]["learning_rate"])
    assert logged["mlflow.tracking_uri"] == "null"


def test_param_names_mlflow_refuses_are_cleaned_and_never_collide() -> None:
    logged = params_to_log({"validate": {"overrides": {"^GSPC": "drop", "_GSPC": "fail"}}}, [])
    assert logged == {"validate.overrides._GSPC": "drop", "validate.overrides._GSPC_2": "fail"}
    assert safe_name("a/../b") == "a_._b"
    assert safe_name("..") == "_"


def test_a_password_in_the_tracking_uri_never_reaches_a_param() -> None:
    raw = {"mlflow": {"tracking_uri": "https://ann:hunter2secret@mlflow.example.com:8443/x"}}
    secrets = secrets_of(raw["mlflow"]["tracking_uri"])
    logged = params_to_log(raw, secrets)
    assert logged == {"mlflow.tracking_uri": "https://ann:***@mlflow.example.com:8443/x"}
    assert secrets == ["hunter2secret"]
    assert scrub("token hunter2secret in text", secrets) == "token *** in text"
    assert redact("postgresql://u:p@db/x and http://h/") == "postgresql://u:***@db/x and http://h/"
    assert without_credentials("http://ann:pw@host:5000/a") == "http://host:5000/a"


def test_mlflow_credential_variables_are_secrets_too(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", "pa55word-from-env")
    assert "pa55word-from-env" in secrets_of(None)


def test_metrics_json_numbers_become_metrics_and_per_fold_numbers_also_steps() -> None:
    metrics = {
        "model": {"roc_auc": 0.53, "confusion": {"tp": 5, "fp": 3}, "note": "text", "ok": True},
        "test": {"rows": 1002, "missing": None},
        "folds": [
            {"fold": 1, "model": {"roc_auc": 0.51}, "rows": 250},
            {"fold": 2, "model": {"roc_auc": 0.55}, "rows": 251},
        ],
        "equity": [1.0, 1.01, 0.99],
        "per_ticker": {"^GSPC": {"ic": 0.02}},
        "fold_1": {"model": 0.56, "rows": 502},
        "fold_2": {"model": 0.52, "rows": 501},
    }
    scalars, steps = metrics_to_log(metrics)
    assert scalars == {
        "model.roc_auc": 0.53,
        "model.confusion.tp": 5.0,
        "model.confusion.fp": 3.0,
        "test.rows": 1002.0,
        "per_ticker._GSPC.ic": 0.02,
        "fold_1.model": 0.56,
        "fold_1.rows": 502.0,
        "fold_2.model": 0.52,
        "fold_2.rows": 501.0,
    }
    assert sorted(steps) == sorted(
        [
            ("folds.fold", 1.0, 1),
            ("folds.model.roc_auc", 0.51, 1),
            ("folds.rows", 250.0, 1),
            ("folds.fold", 2.0, 2),
            ("folds.model.roc_auc", 0.55, 2),
            ("folds.rows", 251.0, 2),
            ("equity", 1.0, 0),
            ("equity", 1.01, 1),
            ("equity", 0.99, 2),
            ("fold.model", 0.56, 1),
            ("fold.rows", 502.0, 1),
            ("fold.model", 0.52, 2),
            ("fold.rows", 501.0, 2),
        ]
    )


def test_the_loss_curve_is_one_step_per_boosting_round_for_each_fold() -> None:
    single = pd.DataFrame(
        {"iteration": [1, 2, 3], "train_loss": [0.7, 0.6, 0.5], "valid_loss": [0.71, 0.69, 0.7]}
    )
    assert [s for s in curve_to_log(single) if s[0] == "valid_loss"] == [
        ("valid_loss", 0.71, 1),
        ("valid_loss", 0.69, 2),
        ("valid_loss", 0.7, 3),
    ]
    folds = pd.concat([single.assign(fold=0), single.head(2).assign(fold=1)])
    logged = curve_to_log(folds)
    names = {name for name, _, _ in logged}
    assert names == {
        "train_loss",
        "valid_loss",
        "fold0.train_loss",
        "fold0.valid_loss",
        "fold1.train_loss",
        "fold1.valid_loss",
    }
    # The unprefixed curve is the deployed (last) fold's.
    assert [v for n, v, _ in logged if n == "train_loss"] == [0.7, 0.6]


def test_the_store_is_params_then_environment_then_sqlite_in_the_project(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    assert tracking_uri(None, tmp_path) == f"sqlite:///{tmp_path.resolve()}/mlflow.db"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:5000")
    assert tracking_uri(None, tmp_path) == "http://127.0.0.1:5000"
    assert tracking_uri("sqlite:////elsewhere.db", tmp_path) == "sqlite:////elsewhere.db"


def test_the_orchestrator_is_dvc_when_dvc_runs_the_stage(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DVC_STAGE", raising=False)
    monkeypatch.delenv("UPDOWN_ORCHESTRATOR", raising=False)
    assert orchestrator() == "manual"
    monkeypatch.setenv("UPDOWN_ORCHESTRATOR", "snakemake")
    assert orchestrator() == "snakemake"
    monkeypatch.setenv("DVC_STAGE", "track")
    assert orchestrator() == "dvc"


def test_git_state_names_the_commit_and_whether_the_tree_is_dirty(tmp_path: Path) -> None:
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run([*git, "init", "-q"], cwd=tmp_path, check=True)
    (tmp_path / "params.yaml").write_text("a: 1\n")
    subprocess.run([*git, "add", "-A"], cwd=tmp_path, check=True)
    subprocess.run([*git, "commit", "-qm", "x"], cwd=tmp_path, check=True)
    head = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=tmp_path, capture_output=True, text=True, check=True
    ).stdout.strip()
    assert git_state(tmp_path) == {"git_commit": head, "git_dirty": "false"}
    (tmp_path / "params.yaml").write_text("a: 2\n")
    assert git_state(tmp_path) == {"git_commit": head, "git_dirty": "true"}
    assert git_state(tmp_path / "nowhere")["git_commit"] == "unknown"


def test_text_artifacts_are_scrubbed_and_tool_stamps_left_out(tmp_path: Path) -> None:
    src = tmp_path / "src"
    (src / "sub").mkdir(parents=True)
    (src / "params.yaml").write_text("mlflow:\n  tracking_uri: http://u:topsecret@h:1\n")
    (src / "sub" / "roc.png").write_bytes(b"\x89PNG topsecret")
    (src / ".snakemake_timestamp").write_text("")
    out = stage_artifacts(sorted(src.rglob("*")), tmp_path / "out", ["topsecret"], src)
    assert sorted(p.relative_to(tmp_path / "out").as_posix() for p in out) == [
        "params.yaml",
        "sub/roc.png",
    ]
    assert "topsecret" not in (tmp_path / "out/params.yaml").read_text()
    assert (tmp_path / "out/sub/roc.png").read_bytes() == b"\x89PNG topsecret"  # binary: as is


def test_log_lines_and_warnings_are_scrubbed_while_mlflow_runs(
    caplog: pytest.LogCaptureFixture,
) -> None:
    import warnings

    records: list[str] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(self.format(record))

    handler = Keep()
    # Once MLflow is imported its logger stops propagating to the root: watch both.
    loggers = [logging.getLogger(), logging.getLogger("mlflow")]
    for logger in loggers:
        logger.addHandler(handler)
    try:
        with scrubbed_logs(["hunter22"]):
            logging.getLogger("mlflow.x").warning("request to %s failed", "http://bob:hunter22@h/")
            warnings.warn("saw hunter22", UserWarning, stacklevel=1)
    finally:
        for logger in loggers:
            logger.removeHandler(handler)
    assert records and not any("hunter22" in r for r in records)
    assert any("http://bob:***@h/" in r for r in records)


def test_an_unreachable_server_gives_a_short_error_without_its_password(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from mlflow import MlflowClient

    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    uri = f"http://bob:hunter22@127.0.0.1:{closed_port()}"
    with pytest.raises(Exception) as caught:
        MlflowClient(tracking_uri=uri).search_experiments()
    assert "hunter22" in str(caught.value)  # MLflow's own message carries the URL...
    message = _short_error(caught.value, secrets_of(uri))
    assert "hunter22" not in message  # ...ours does not
    assert message == "cannot connect (connection refused)"


# A process dying while MLflow builds a new store: killed between two schema migrations.
KILLED_WHILE_CREATING = """
import os, sys
import mlflow.store.db.utils as db

def die_halfway(engine):
    os._exit(9)

db._upgrade_db = die_halfway  # the first tables exist, the migrations never run
from updown.serve.store import create_new_store
create_new_store(sys.argv[1])
"""


def test_a_store_is_created_whole_or_not_at_all_and_a_killed_creation_is_retried(
    tmp_path: Path,
) -> None:
    from mlflow import MlflowClient

    database = tmp_path / "mlflow.db"
    uri = f"sqlite:///{database}"
    killed = subprocess.run([sys.executable, "-c", KILLED_WHILE_CREATING, uri], timeout=120)
    assert killed.returncode == 9
    assert not database.exists()  # no half-built store where the next run would open it
    assert len(list(tmp_path.glob(".mlflow.db.*.new"))) == 1
    create_new_store(uri)
    assert database.exists() and not list(tmp_path.glob(".mlflow.db.*"))
    client = MlflowClient(tracking_uri=uri)
    assert client.create_experiment("built") and client.search_registered_models() == []
    before = database.stat().st_mtime_ns
    create_new_store(uri)  # an existing store is left alone
    assert database.stat().st_mtime_ns == before


def test_a_sqlite_store_is_its_file_without_the_query_and_a_server_has_none() -> None:
    assert sqlite_path("sqlite:////srv/runs/mlflow.db?timeout=30") == Path("/srv/runs/mlflow.db")
    assert sqlite_path("sqlite:///mlflow.db") == Path("mlflow.db")
    assert sqlite_path("http://127.0.0.1:5000") is None
