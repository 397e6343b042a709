"""Boosting progress never floods a log: `updown train --log` writes the same few lines at 3 and
at 60 rounds, stderr on a file or pipe gets no bar redraws, and a terminal gets the bar."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from conftest import REPO, project_env
from train_data import synthetic
from updown.io import write_parquet

UPDOWN = str(Path(sys.executable).parent / "updown")


@pytest.fixture(scope="module")
def tables(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("train_logs")
    _, features, labels = synthetic(n_bars=600, tickers=("AAA", "BBB"))
    write_parquet(features, root / "features.parquet")
    write_parquet(labels, root / "labels.parquet")
    return root


def train(root: Path, rounds: int, name: str) -> tuple[list[str], str]:
    """Run `updown train` with `rounds` boosting rounds (no early stopping), stderr to a file as
    Snakemake or `make run > log 2>&1` would; return the --log file's lines and stderr."""
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    params["split"].update(train_end="2011-06-30", valid_end="2011-12-31")
    params["train"].update(num_boost_round=rounds, early_stopping_rounds=0, min_data_in_leaf=20)
    (root / f"{name}.yaml").write_text(yaml.safe_dump(params))
    with open(root / f"{name}.stderr", "w") as stderr:
        done = subprocess.run(
            [UPDOWN, "train", "--params", f"{name}.yaml", "--features", "features.parquet",
             "--labels", "labels.parquet", "--model", f"{name}/model.txt", "--folds",
             f"{name}/folds", "--baselines", f"{name}/b.json", "--curve", f"{name}/curve.csv",
             "--log", f"{name}.log"],
            cwd=root, env=project_env(), stdout=subprocess.DEVNULL, stderr=stderr, timeout=600,
        )  # fmt: skip
    err = (root / f"{name}.stderr").read_text()
    assert done.returncode == 0, err[-3000:]
    return (root / f"{name}.log").read_text().splitlines(), err


@pytest.mark.slow
def test_the_train_log_has_the_same_few_lines_whatever_the_number_of_rounds(tables: Path) -> None:
    few, few_err = train(tables, 3, "few")
    many, many_err = train(tables, 60, "many")
    assert len(few) == len(many) == 3  # boosting starts, boosting ends, trained -> model
    assert "boosting: up to 60 rounds" in many[0]
    assert "boosting: 60 rounds in" in many[1] and "best round 60" in many[1]
    for err in (few_err, many_err):
        assert "\r" not in err  # no bar redrawn on a file
        assert len(err.splitlines()) == 3


def test_a_terminal_gets_the_progress_bar(tmp_path: Path) -> None:
    """stderr on a real pseudo-terminal: the bar is drawn there, and the log lines still come."""
    script = (
        "import logging\n"
        "from updown.progress import Progress\n"
        "logging.basicConfig(level=logging.INFO)\n"
        "with Progress('boosting', total=5, unit='round') as p:\n"
        "    for _ in range(5):\n"
        "        p.update()\n"
    )
    leader, follower = os.openpty()
    try:
        done = subprocess.run(
            [sys.executable, "-c", script], stderr=follower, env=project_env(), timeout=120
        )
        os.close(follower)
        shown = b""
        while True:
            try:
                chunk = os.read(leader, 4096)
            except OSError:  # the terminal closed: everything has been read
                break
            if not chunk:
                break
            shown += chunk
    finally:
        os.close(leader)
    assert done.returncode == 0
    text = shown.decode()
    assert "\r" in text and "round" in text  # tqdm's bar, redrawn in place
    assert "boosting: 5 rounds in" in text
