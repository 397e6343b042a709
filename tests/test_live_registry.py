"""Predict with @champion from a real MLflow sqlite registry: the first version becomes champion,
every call is journalled once, the journalled P(up) is what `updown predict --ticker --as-of`
answers to the bit, a challenger predicts in shadow, the gate promotes it, and every alias move
is in the alias history. The journal survives reruns of the DAG."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import yaml
from conftest import run, set_params
from test_track import closed_port
from updown.live.journal import read_journal
from updown.live.promotion import alias_history, gate, set_challenger

pytestmark = [pytest.mark.integration]
NAME = "updown-sample"
NOW = pd.Timestamp("2019-01-02 12:00", tz="UTC")


def client_for(project: Path) -> Any:
    from mlflow import MlflowClient

    uri = f"sqlite:///{project / 'mlflow.db'}"
    return MlflowClient(tracking_uri=uri, registry_uri=uri)


def parts(project: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted((project / "journal/predictions").glob("*"))}


def cli_answer(project: Path, ticker: str, as_of: pd.Timestamp) -> dict[str, Any]:
    done = run(
        ["updown", "predict", "--ticker", ticker, "--as-of", as_of.date().isoformat(), "--json"],
        project,
    )
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


@pytest.fixture(scope="module")
def registered(built_sample_project: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The built project with its model registered: track logs version 1, predict (no
    champion yet) makes it champion and journals its calls."""
    p = tmp_path_factory.mktemp("registered") / "project"
    shutil.copytree(built_sample_project, p, symlinks=True)
    set_params(p, {"mlflow.registered_model": NAME})
    run(["snakemake", "--cores", "2"], p)
    return p


def test_the_first_registered_version_becomes_champion_and_the_move_is_recorded(
    registered: Path,
) -> None:
    client = client_for(registered)
    assert str(client.get_model_version_by_alias(NAME, "champion").version) == "1"
    history = alias_history(registered / "journal").read()
    assert history[["alias", "from_version", "to_version", "event", "reason"]].values.tolist() == [
        ["champion", "", "1", "set", "first model"]
    ]


def test_predict_journals_the_champions_calls_with_its_version_and_run(registered: Path) -> None:
    journal = read_journal(registered / "journal")
    mine = journal[journal["model_version"] == "1"]
    latest = pd.read_csv(registered / "reports/latest.csv")
    version = client_for(registered).get_model_version(NAME, "1")
    assert sorted(mine["ticker"]) == sorted(latest["ticker"])
    assert set(mine["model_name"]) == {NAME} and set(mine["alias"]) == {"champion"}
    assert set(mine["run_id"]) == {version.run_id} and set(mine["role"]) == {"champion"}
    assert (
        mine.set_index("ticker")["p_up"].to_dict() == latest.set_index("ticker")["p_up"].to_dict()
    )
    # The built project's own predict (no registry then) journalled the model file's calls.
    assert journal["model_version"].str.startswith("file:").sum() == len(latest)


def test_each_journalled_p_up_equals_the_cli_answer_to_the_bit(registered: Path) -> None:
    journal = read_journal(registered / "journal")
    for row in journal[journal["model_version"] == "1"].itertuples():
        answer = cli_answer(registered, row.ticker, row.as_of)
        assert pd.Timestamp(answer["as_of"]) == row.as_of
        assert answer["p_up"] == row.p_up  # float equality: the same bits
        assert answer["run_id"] == row.run_id


def test_rerunning_predict_and_the_dag_leaves_the_journal_as_it_was(registered: Path) -> None:
    before = parts(registered)
    run(["snakemake", "--cores", "2", "--forcerun", "predict"], registered)
    run(["dvc", "repro", "--force", "--single-item", "predict"], registered)
    ticker = read_journal(registered / "journal")["ticker"].iloc[0]
    run(["updown", "predict", "--ticker", ticker, "--json", "--journal"], registered)
    assert parts(registered) == before


def test_a_challenger_predicts_in_shadow_then_the_gate_promotes_it(
    registered: Path, tmp_path: Path
) -> None:
    p = tmp_path / "project"
    shutil.copytree(registered, p, symlinks=True)
    set_params(p, {"train.learning_rate": 0.1, "train.num_leaves": 7})
    run(["snakemake", "--cores", "2"], p)  # version 2 registered as @candidate
    client = client_for(p)
    assert str(client.get_model_version_by_alias(NAME, "champion").version) == "1"
    history = alias_history(p / "journal")
    set_challenger(client, history, NAME, "2", "retrained", NOW)
    run(["updown", "predict", "--out", "reports/latest.csv"], p)
    journal = read_journal(p / "journal")
    shadow = journal[journal["role"] == "shadow"]
    assert set(shadow["model_version"]) == {"2"} and set(shadow["alias"]) == {"challenger"}
    assert len(shadow) == 2

    kept = gate(
        client, history, NAME, ({"roc_auc": 0.55}, {"roc_auc": 0.555}), "roc_auc", 0.01, NOW
    )
    assert not kept.promote
    assert str(client.get_model_version_by_alias(NAME, "champion").version) == "1"
    won = gate(client, history, NAME, ({"roc_auc": 0.55}, {"roc_auc": 0.6}), "roc_auc", 0.01, NOW)
    assert won.promote
    assert str(client.get_model_version_by_alias(NAME, "champion").version) == "2"
    moves = history.read()[["alias", "from_version", "to_version", "event"]].values.tolist()
    assert moves == [
        ["champion", "", "1", "set"],
        ["challenger", "", "2", "set"],
        ["champion", "1", "1", "kept"],
        ["champion", "1", "2", "promoted"],
        ["challenger", "2", "", "cleared"],
    ]
    assert history.read()["challenger_figure"].tolist()[-2] == 0.6
    # The CLI now answers with version 2: what it journalled in shadow, to the bit.
    row = shadow.iloc[0]
    answer = cli_answer(p, row["ticker"], row["as_of"])
    assert answer["p_up"] == row["p_up"] and answer["run_id"] == row["run_id"]


def test_monitor_reads_the_journal_and_each_versions_test_figures(registered: Path) -> None:
    run(["updown", "monitor"], registered)
    live = json.loads((registered / "reports/live.json").read_text())
    by_version = {m["model_version"]: m for m in live["models"]}
    assert by_version["1"]["has_test_figures"]
    assert live["journal_rows"] == len(read_journal(registered / "journal"))
    # Calls on the newest bar have not matured: no figure, no verdict yet.
    assert live["matured_rows"] == 0
    assert [a for a in live["alerts"] if not a.startswith("feature drift")] == []
    assert "Too few matured calls" in live["summary"]
    assert live["drift"]["psi"] and live["drift"]["train_rows"] > 0
    page = (registered / "reports/live.html").read_text()
    assert "Alias history" in page and "first model" in page


def test_an_unreachable_registry_stops_predict_in_one_line_and_journals_nothing(
    registered: Path, tmp_path: Path
) -> None:
    params = yaml.safe_load((registered / "params.yaml").read_text())
    params["mlflow"]["tracking_uri"] = f"http://127.0.0.1:{closed_port()}"
    bad = tmp_path / "params.yaml"
    bad.write_text(yaml.safe_dump(params, sort_keys=False))
    before = parts(registered)
    done = run(
        ["updown", "predict", "--params", str(bad), "--out", str(tmp_path / "latest.csv")],
        registered,
        check=False,
    )
    assert done.returncode == 1
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("updown predict: error: MLflow registry at http://127.0.0.1:")
    assert "cannot connect" in last and "unset mlflow.registered_model" in last
    assert parts(registered) == before and not (tmp_path / "latest.csv").exists()
