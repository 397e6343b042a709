"""params.yaml is validated against the schema before anything runs; errors name the key."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml
from updown.config import build_params, load_params, read_yaml
from updown.errors import UpdownError

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def raw() -> dict:
    return yaml.safe_load((REPO / "params.yaml").read_text())


def test_shipped_params_are_valid_and_typed() -> None:
    params = load_params(REPO / "params.yaml")
    assert params.data.source == "sample"
    assert params.data.tickers == ("^GSPC", "^IXIC")
    assert params.split.train_end < params.split.valid_end


def test_unknown_key_is_named_with_its_path(raw: dict) -> None:
    raw["train"]["learning_rat"] = 0.1
    with pytest.raises(UpdownError, match=r"train\.learning_rat: unknown key"):
        build_params(raw)


def test_wrong_type_is_named_with_its_path(raw: dict) -> None:
    raw["train"]["num_leaves"] = "many"
    with pytest.raises(UpdownError, match=r"train\.num_leaves: 'many' is not of type 'integer'"):
        build_params(raw)


@pytest.mark.parametrize("ticker", ["../../x", "a/b", "", "x" * 33, ".hidden"])
def test_unsafe_ticker_is_rejected(raw: dict, ticker: str) -> None:
    raw["data"]["tickers"] = ["AAPL", ticker]
    with pytest.raises(
        UpdownError, match=r"data\.tickers\[1\]: ticker .* is not safe as a file name"
    ):
        build_params(raw)


@pytest.mark.parametrize("ticker", ["BRK.B", "^GSPC", "EURUSD=X", "BF-B"])
def test_real_world_tickers_are_accepted(raw: dict, ticker: str) -> None:
    raw["data"]["tickers"] = [ticker]
    assert build_params(raw).data.tickers == (ticker,)


def test_start_after_end_is_refused(raw: dict) -> None:
    raw["data"]["start"], raw["data"]["end"] = "2019-01-01", "2018-01-01"
    with pytest.raises(UpdownError, match=r"data\.start .* must be before data\.end"):
        build_params(raw)


def test_split_dates_out_of_order_are_refused(raw: dict) -> None:
    bad = copy.deepcopy(raw)
    bad["split"]["train_end"] = "2017-06-30"
    with pytest.raises(UpdownError, match=r"split\.train_end < split\.valid_end"):
        build_params(bad)


def test_unknown_source_is_refused(raw: dict) -> None:
    raw["data"]["source"] = "bloomberg"
    with pytest.raises(UpdownError, match=r"data\.source: 'bloomberg' is not one of"):
        build_params(raw)


def test_yaml_syntax_error_names_file_and_line(tmp_path: Path) -> None:
    bad = tmp_path / "params.yaml"
    bad.write_text("data:\n  source: sample\n  tickers: [a, b\n")
    with pytest.raises(UpdownError, match=r"params\.yaml: line \d+, column \d+: YAML syntax error"):
        read_yaml(bad)
