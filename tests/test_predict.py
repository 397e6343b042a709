"""Predict: the same bars give the same answer through the predict stage, the CLI and the MLflow
pyfunc, and bars the model cannot answer for are refused with a message that says why."""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import lightgbm as lgb
import numpy as np
import pandas as pd
import pytest
from conftest import REPO, project_env, run
from updown.config import Params, load_params
from updown.errors import UpdownError
from updown.serve.predict import (
    answer,
    bars_behind,
    fetch_bars,
    parse_as_of,
    predict_latest,
    time_ordered,
)
from updown.serve.profile import model_profile
from updown.serve.scoring import (
    ModelProfile,
    compute_features,
    last_bars,
    load_booster,
    prepare_bars,
    score_bars,
)


@pytest.mark.parametrize("n", [1, 3, 10])
def test_last_bars_keep_what_a_groupby_tail_keeps_sorted_or_not(n: int) -> None:
    rng = np.random.default_rng(n)
    tickers = np.repeat(["AA", "B", "BRK.B", "C"], [5, 1, 8, 4])
    panel = pd.DataFrame({"ticker": tickers, "close": rng.normal(size=len(tickers))})
    shuffled = panel.sample(frac=1, random_state=n).reset_index(drop=True)  # the groupby's way
    for frame in (panel, shuffled, panel.astype({"ticker": object}), panel.iloc[:0]):
        expected = frame.groupby("ticker", sort=False).tail(n).reset_index(drop=True)
        pd.testing.assert_frame_equal(last_bars(frame, n), expected)


# ---------------------------------------------------------------- a small real model, in process


@pytest.fixture(scope="session")
def params() -> Params:
    p = load_params(REPO / "params.yaml")
    data = dataclasses.replace(p.data, source="sample", tickers=("^GSPC", "^IXIC"))
    return dataclasses.replace(p, data=data)


@pytest.fixture(scope="session")
def prices(params: Params) -> pd.DataFrame:
    """The offline sample, validated as the pipeline validates it."""
    from updown.data.sources import get_fetch
    from updown.data.validate import validate_all

    raw = get_fetch("sample")(list(params.data.tickers), params.data)
    panel, _ = validate_all(raw, params.validate)
    return panel


def _train(prices: pd.DataFrame, params: Params, objective: str) -> str:
    from updown.learn.label import make_labels, resolved

    feats = compute_features(prices, params.features, params.data.interval)
    labels = make_labels(prices, resolved(params))
    table = labels.merge(feats, on=["ticker", "timestamp"])
    table = table[table["timestamp"] < pd.Timestamp("2015-01-01", tz="UTC")]
    names = [c for c in feats.columns if c not in ("ticker", "timestamp")]
    target = table["label"] if objective == "binary" else table["forward_return"]
    booster = lgb.train(
        {
            "objective": objective,
            "num_leaves": 7,
            "learning_rate": 0.1,
            "min_data_in_leaf": 50,
            "deterministic": True,
            "num_threads": 1,
            "seed": 1,
            "verbosity": -1,
        },
        lgb.Dataset(table[names], target),
        num_boost_round=25,
    )
    return booster.model_to_string()


@pytest.fixture(scope="session")
def model_text(prices: pd.DataFrame, params: Params) -> str:
    return _train(prices, params, "binary")


@pytest.fixture(scope="session")
def profile(prices: pd.DataFrame, model_text: str, params: Params) -> ModelProfile:
    return model_profile(prices, model_text, params, run_id="r1")


def score(
    bars: pd.DataFrame, model_text: str, params: Params, profile: ModelProfile
) -> pd.DataFrame:
    return score_bars(bars, load_booster(model_text), params.features, profile)


# ---------------------------------------------------------------------------------- behaviour


def test_the_answer_is_the_same_to_the_last_bit_however_much_history_is_sent(
    prices: pd.DataFrame, model_text: str, params: Params, profile: ModelProfile
) -> None:
    whole = score(prices, model_text, params, profile)
    window = score(last_bars(prices, profile.history_bars), model_text, params, profile)
    more = score(last_bars(prices, profile.history_bars + 37), model_text, params, profile)
    assert whole["p_up"].tolist() == window["p_up"].tolist() == more["p_up"].tolist()
    assert whole["ticker"].tolist() == ["^GSPC", "^IXIC"]
    assert whole["as_of"].tolist() == [
        t.isoformat() for t in prices.groupby("ticker")["timestamp"].max()
    ]
    assert ((whole["p_up"] > 0) & (whole["p_up"] < 1)).all()
    assert (
        whole["direction"].tolist()
        == np.where(whole["p_up"] > profile.threshold, "up", "down").tolist()
    )


def test_bars_as_json_text_give_the_same_answer_as_typed_bars_in_any_order(
    prices: pd.DataFrame, model_text: str, params: Params, profile: ModelProfile
) -> None:
    typed = last_bars(prices, profile.history_bars)
    as_json = json.loads(
        typed.assign(timestamp=typed["timestamp"].map(lambda t: t.isoformat())).to_json(
            orient="records", double_precision=15
        )
    )
    text = pd.DataFrame(as_json).sample(frac=1.0, random_state=3)  # shuffled rows
    text["volume"] = text["volume"].astype("int64")  # JSON integers
    assert score(text, model_text, params, profile).equals(
        score(typed, model_text, params, profile)
    )


def test_features_of_the_scored_bar_use_no_bar_after_it(
    prices: pd.DataFrame, model_text: str, params: Params, profile: ModelProfile
) -> None:
    as_of, _ = parse_as_of("2018-06-29")
    cut = prices[prices["timestamp"] <= as_of].reset_index(drop=True)
    row = answer(prices, "^GSPC", as_of, model_text, params, profile)
    scored = score(cut, model_text, params, profile)
    assert row["as_of"].startswith("2018-06-29")
    assert row["p_up"] == scored.loc[scored["ticker"] == "^GSPC", "p_up"].item()
    assert row["stale"] is False


def test_a_weekend_as_of_answers_from_friday_and_a_far_later_one_is_stale(
    prices: pd.DataFrame, model_text: str, params: Params, profile: ModelProfile
) -> None:
    friday = answer(prices, "^GSPC", parse_as_of("2018-06-29")[0], model_text, params, profile)
    sunday = answer(prices, "^GSPC", parse_as_of("2018-07-01")[0], model_text, params, profile)
    assert sunday == friday
    late = answer(prices, "^GSPC", parse_as_of("2019-03-01")[0], model_text, params, profile)
    assert late["as_of"].startswith("2018-12-31") and late["stale"] is True


def test_bars_fetched_from_the_source_give_the_same_answer_as_the_acquired_panel(
    prices: pd.DataFrame, model_text: str, params: Params, profile: ModelProfile
) -> None:
    from updown.data.sources import get_fetch

    as_of = parse_as_of("2017-03-15")[0]
    fetched = fetch_bars(["^GSPC", "^IXIC"], as_of, params, profile, get_fetch("sample"))
    assert fetched["timestamp"].max() <= as_of
    assert fetched.groupby("ticker").size().min() >= profile.history_bars
    got = answer(fetched, "^IXIC", as_of, model_text, params, profile)
    assert got == answer(prices, "^IXIC", as_of, model_text, params, profile)


def test_the_profile_finds_the_warm_up_the_gaps_and_the_cross_sectional_features(
    prices: pd.DataFrame, model_text: str, params: Params, profile: ModelProfile
) -> None:
    spacing = prices.groupby("ticker")["timestamp"].diff().max()
    assert profile.max_gap_seconds == spacing.total_seconds()
    expected_cs = {n for n in profile.feature_names if n.startswith("cs_rank_")}
    assert set(profile.cross_sectional) == expected_cs
    assert profile.tickers == ("^GSPC", "^IXIC")
    # Exactly min_history bars answer; one fewer does not.
    score(last_bars(prices, profile.min_history), model_text, params, profile)
    with pytest.raises(UpdownError, match="too short a history"):
        score(last_bars(prices, profile.min_history - 1), model_text, params, profile)
    # With min_history bars every model feature of the scored bar has a value.
    window = last_bars(prices, profile.min_history)
    feats = compute_features(window, params.features, "1d").groupby("ticker").tail(1)
    assert feats[list(profile.feature_names)].notna().all().all()


def test_history_bars_below_the_feature_windows_is_a_config_error(
    prices: pd.DataFrame, model_text: str, params: Params, profile: ModelProfile
) -> None:
    small = dataclasses.replace(
        params, predict=dataclasses.replace(params.predict, history_bars=profile.min_history - 1)
    )
    with pytest.raises(UpdownError, match=r"predict\.history_bars"):
        model_profile(prices, model_text, small)


def test_a_return_model_predicts_a_return_and_calls_the_direction_from_its_sign(
    prices: pd.DataFrame, params: Params
) -> None:
    text = _train(prices, params, "regression")
    prof = model_profile(prices, text, params)
    out = score(prices, text, params, prof)
    assert prof.objective == "regression" and not prof.probability
    assert "p_up" not in out.columns
    assert out["direction"].tolist() == np.where(out["predicted_return"] > 0, "up", "down").tolist()


# ------------------------------------------------------------------------------------ refusals


def test_refuses_bars_with_missing_columns(prices, model_text, params, profile) -> None:
    bars = last_bars(prices, profile.history_bars).drop(columns=["adj_close"])
    with pytest.raises(UpdownError, match=r"missing column.*adj_close"):
        score(bars, model_text, params, profile)


def test_refuses_bars_of_another_interval(prices, model_text, params, profile) -> None:
    weekly = prices.groupby("ticker").nth(slice(None, None, 5)).reset_index(drop=True)
    with pytest.raises(UpdownError, match=r"apart.*not 1d bars"):
        score(weekly, model_text, params, profile)
    hourly = last_bars(prices, profile.history_bars).copy()
    step = hourly.groupby("ticker").cumcount() * pd.Timedelta(hours=1)
    hourly["timestamp"] = pd.Timestamp("2018-01-02 14:30", tz="UTC") + step
    with pytest.raises(UpdownError, match="0 days 01:00:00 apart"):
        score(hourly, model_text, params, profile)


def test_refuses_a_gap_longer_than_any_the_model_saw(prices, model_text, params, profile) -> None:
    window = last_bars(prices, profile.history_bars)
    # Drop ten trading days (two weeks) in the middle of each ticker's window.
    middle = window.groupby("ticker").cumcount().between(100, 109)
    with pytest.raises(UpdownError, match=r"gap of \d+ days.*never saw a gap longer than"):
        score(window[~middle], model_text, params, profile)


def test_refuses_a_cross_sectional_model_without_all_its_tickers(
    prices, model_text, params, profile
) -> None:
    one = last_bars(
        prices[prices["ticker"] == "^GSPC"].reset_index(drop=True), profile.history_bars
    )
    with pytest.raises(UpdownError, match=r"ranks features across tickers.*\^GSPC, \^IXIC"):
        score(one, model_text, params, profile)


def test_refuses_missing_prices_and_repeated_bars(prices, model_text, params, profile) -> None:
    window = last_bars(prices, profile.history_bars)
    holed = window.copy()
    holed.loc[5, "close"] = np.nan
    with pytest.raises(UpdownError, match="close is missing"):
        prepare_bars(holed)
    with pytest.raises(UpdownError, match="two bars at"):
        prepare_bars(pd.concat([window, window.tail(1)]))
    with pytest.raises(UpdownError, match="ISO 8601"):
        prepare_bars(window.assign(timestamp="yesterday"))


def test_bars_behind_counts_business_days_for_daily_bars() -> None:
    fri = pd.Series(pd.to_datetime(["2018-06-29T04:00Z"]))
    assert bars_behind(fri, pd.Timestamp("2018-07-01T23:00Z"), "1d").tolist() == [0]
    assert bars_behind(fri, pd.Timestamp("2018-07-02T04:00Z"), "1d").tolist() == [1]
    assert bars_behind(fri, pd.Timestamp("2018-07-09T04:00Z"), "1d").tolist() == [6]
    hour = pd.Series(pd.to_datetime(["2018-06-29T14:30Z"]))
    assert bars_behind(hour, pd.Timestamp("2018-06-29T17:30Z"), "1h").tolist() == [3]


def test_parse_as_of_reads_dates_as_end_of_day_utc() -> None:
    end, is_date = parse_as_of("2018-06-29")
    assert is_date and end == pd.Timestamp("2018-06-29T23:59:59.999999Z")
    assert parse_as_of("2018-06-29T15:00")[0] == pd.Timestamp("2018-06-29T15:00Z")
    with pytest.raises(UpdownError, match="--as-of"):
        parse_as_of("2018-13-45")


# ------------------------------------------------------------- the three paths, on a real run


@pytest.mark.integration
def test_same_bar_same_probability_through_stage_cli_and_pyfunc(
    built_sample_project: Path, tmp_path: Path
) -> None:
    import mlflow

    p = tmp_path / "project"
    shutil.copytree(built_sample_project, p, symlinks=True)
    latest = pd.read_csv(p / "reports/latest.csv")
    run_id = json.loads((p / "reports/mlflow_run.json").read_text())["run_id"]
    assert set(latest["run_id"]) == {run_id}

    cli = run(["updown", "predict", "--ticker", "^IXIC", "--json"], p)
    from_cli = json.loads(cli.stdout)
    stage_row = latest[latest["ticker"] == "^IXIC"].iloc[0]
    assert from_cli["p_up"] == float(stage_row["p_up"])  # exact: JSON and CSV keep every bit
    assert from_cli["as_of"] == stage_row["as_of"] and from_cli["run_id"] == run_id

    client_prices = pd.read_parquet(p / "data/interim/prices.parquet")
    mlflow.set_tracking_uri(f"sqlite:///{p / 'mlflow.db'}")
    model = mlflow.pyfunc.load_model(f"runs:/{run_id}/model")
    served = model.predict(client_prices)
    assert served["p_up"].tolist() == latest["p_up"].tolist()
    assert served["direction"].tolist() == latest["direction"].tolist()

    # An earlier bar: the CLI's --as-of and the pyfunc given the bars up to that day agree.
    cli = run(["updown", "predict", "--ticker", "^GSPC", "--as-of", "2018-06-29", "--json"], p)
    earlier = client_prices[client_prices["timestamp"] < pd.Timestamp("2018-06-30", tz="UTC")]
    from_pyfunc = model.predict(earlier).set_index("ticker").loc["^GSPC"]
    assert json.loads(cli.stdout)["p_up"] == from_pyfunc["p_up"]

    # The human answer is one line: ticker, bar, direction, probability, run.
    text = run(["updown", "predict", "--ticker", "^GSPC", "--as-of", "2018-06-29"], p).stdout
    assert text.strip().splitlines() == [
        f"^GSPC as of {from_pyfunc['as_of']}: {from_pyfunc['direction']}, "
        f"P(up) = {from_pyfunc['p_up']:.4f}, model run {run_id[:8]}"
    ]


@pytest.mark.integration
def test_cli_refuses_a_ticker_it_has_no_bars_for_in_one_line(built_sample_project: Path) -> None:
    done = run(
        ["updown", "predict", "--ticker", "^GSPC", "--as-of", "1990-01-05"],
        built_sample_project,
        check=False,
        env=project_env(),
    )
    assert done.returncode == 1
    assert (
        done.stderr.strip()
        .splitlines()[-1]
        .startswith("updown predict: error: ticker ^GSPC: no bars")
    )


def test_predict_latest_gives_the_same_rows_as_scoring_the_whole_panel(
    prices: pd.DataFrame, model_text: str, params: Params, profile: ModelProfile
) -> None:
    """The stage cuts a validated panel to its last bars before anything else and computes
    their features once, for the profile and the answer: the same answer as the long way."""
    whole = score(prices, model_text, params, profile)
    latest = predict_latest(prices, model_text, params, "r1")
    pd.testing.assert_frame_equal(latest.drop(columns="stale"), whole)
    assert time_ordered(prices)
    assert not time_ordered(prices.sample(frac=1.0, random_state=3).reset_index(drop=True))
    assert not time_ordered(pd.concat([prices.iloc[:5], prices.iloc[4:]], ignore_index=True))
    window = last_bars(prices, params.predict.history_bars)
    feats = compute_features(window, params.features, params.data.interval)
    assert model_profile(prices, model_text, params, "r1", window=(window, feats)) == profile
