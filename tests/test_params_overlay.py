"""`updown params`: a second configuration as the keys it changes, laid over params.yaml."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from conftest import REPO
from updown.cli import main
from updown.config import build_params
from updown.errors import UpdownError
from updown.params_overlay import overlay, render


def test_an_overlay_merges_mappings_key_by_key_and_replaces_everything_else() -> None:
    base = {
        "data": {"tickers": ["A", "B"], "csv": {"sep": ",", "decimal": "."}},
        "train": {"seed": 1},
    }
    merged = overlay(base, {"data": {"tickers": ["C"], "csv": {"sep": ";"}}})
    assert merged == {
        "data": {"tickers": ["C"], "csv": {"sep": ";", "decimal": "."}},
        "train": {"seed": 1},
    }
    assert base["data"]["csv"]["sep"] == ","  # the base is not touched


def test_the_hourly_example_is_params_yaml_with_hourly_bars_from_the_generator() -> None:
    text = render(REPO / "params.yaml", REPO / "examples/hourly.yaml")
    params = build_params(yaml.safe_load(text))
    base = yaml.safe_load((REPO / "params.yaml").read_text())
    assert params.data.interval == "1h" and params.data.source == "csv"
    assert params.data.tickers == tuple(f"SYN{i:04d}" for i in range(5))
    assert params.data.csv.pattern == "{ticker}.parquet"
    assert params.mlflow.experiment == "updown-hourly"
    # every other section comes from params.yaml as it is
    assert yaml.safe_load(text)["features"] == base["features"]
    assert yaml.safe_load(text)["train"] == base["train"]


def test_a_misspelt_overlay_key_is_named(tmp_path: Path) -> None:
    (tmp_path / "o.yaml").write_text("train:\n  learning_rat: 0.1\n")
    with pytest.raises(UpdownError, match=r"o\.yaml \(over .*params\.yaml\).*learning_rat"):
        render(REPO / "params.yaml", tmp_path / "o.yaml")


def test_the_command_rewrites_the_file_only_when_it_changes(tmp_path: Path) -> None:
    out = tmp_path / "run" / "params.yaml"
    argv = ["params", "--params", str(REPO / "params.yaml"), "--overlay",
            str(REPO / "examples/hourly.yaml"), "--out", str(out)]  # fmt: skip
    assert main(argv) == 0
    first = out.stat().st_mtime_ns
    assert main(argv) == 0
    assert out.stat().st_mtime_ns == first
    assert "Written by `updown params`" in out.read_text().splitlines()[0]
