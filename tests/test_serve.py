"""`mlflow models serve` on the logged model answers raw bars posted as JSON exactly as the
predict stage answered, and refuses bars it cannot answer for with a message saying why."""

from __future__ import annotations

import json
import shutil
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import yaml
from conftest import BIN, project_env
from test_mlflow_server import free_port, server_process

pytestmark = [pytest.mark.integration]


@pytest.fixture(scope="session")
def served(
    built_sample_project: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Path, str]]:
    """The built project's logged model behind `mlflow models serve` (no conda, local env)."""
    p = tmp_path_factory.mktemp("serve") / "project"
    shutil.copytree(built_sample_project, p, symlinks=True)
    run_id = json.loads((p / "reports/mlflow_run.json").read_text())["run_id"]
    port = free_port()
    env = project_env({"MLFLOW_TRACKING_URI": f"sqlite:///{p / 'mlflow.db'}"})
    cmd = [
        str(BIN / "mlflow"),
        "models",
        "serve",
        "-m",
        f"runs:/{run_id}/model",
        "--env-manager",
        "local",
        "-h",
        "127.0.0.1",
        "-p",
        str(port),
        "-w",
        "1",
    ]
    url = f"http://127.0.0.1:{port}"
    with server_process(cmd, f"{url}/ping", p, env, p.parent / "serve.log"):
        yield p, url


def post(url: str, bars: pd.DataFrame) -> tuple[int, Any]:
    """POST bars as a JSON caller would: ISO timestamps, numbers as JSON numbers."""
    records = bars.assign(timestamp=[t.isoformat() for t in bars["timestamp"]])
    body = {
        "dataframe_split": json.loads(
            records.to_json(orient="split", index=False, double_precision=15)
        )
    }
    request = urllib.request.Request(
        f"{url}/invocations",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=120) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


def window(p: Path, bars: int) -> pd.DataFrame:
    prices = pd.read_parquet(p / "data/interim/prices.parquet")
    return prices.groupby("ticker").tail(bars).reset_index(drop=True)


def test_served_model_answers_raw_bars_exactly_as_the_predict_stage(
    served: tuple[Path, str],
) -> None:
    p, url = served
    history = json.loads((p / "reports/mlflow_run.json").read_text())
    bars = yaml.safe_load((p / "params.yaml").read_text())["predict"]["history_bars"]
    status, answer = post(url, window(p, bars + 20))  # more history than used: same answer
    assert status == 200, answer
    latest = pd.read_csv(p / "reports/latest.csv")
    got = pd.DataFrame(answer["predictions"])
    assert got["ticker"].tolist() == latest["ticker"].tolist()
    assert got["as_of"].tolist() == latest["as_of"].tolist()
    assert got["direction"].tolist() == latest["direction"].tolist()
    assert got["p_up"].tolist() == latest["p_up"].tolist()  # to the last bit
    assert set(got["run_id"]) == {history["run_id"]}


def test_served_model_refuses_too_short_a_history_and_missing_columns(
    served: tuple[Path, str],
) -> None:
    p, url = served
    status, answer = post(url, window(p, 10))
    assert status == 400 and "too short a history for the feature windows" in answer["message"]
    status, answer = post(url, window(p, 300).drop(columns=["adj_close"]))
    assert status == 400 and "adj_close" in answer["message"]
