"""The Deflated Sharpe Ratio of every backtest for a counted number of trials, said in words;
the report's header (run, commit, data snapshot, changed params, block dates); the block dates;
the importance chart shows used features only. Pure: metrics.json and mlflow_run.json as dicts."""

from __future__ import annotations

import re
from itertools import pairwise
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd
import pytest
from updown.assess.deflation import TrialCount, deflate, luck_sentence, model_sharpe
from updown.assess.header import compose_report
from updown.assess.plots import importance_shown, importance_table
from updown.assess.sharpe import SharpeMoments, probabilistic_sharpe
from updown.contract import REPORT_HEADER_SLOT
from updown.learn.periods import block_periods, whole_test_period


def backtest(sharpe: float, bars: int = 500, skew: float = -0.2, kurt: float = 4.0) -> dict:
    return {"sharpe": sharpe * np.sqrt(252), "sharpe_per_bar": sharpe, "bars": bars,
            "skew": skew, "kurtosis": kurt, "psr": None}  # fmt: skip


METRICS: dict[str, Any] = {
    "backtest_model": backtest(0.09),
    "backtest_majority": backtest(0.03),
    "backtest_momentum": backtest(-0.01),
    "backtest_buy_and_hold": backtest(0.05),
    "test": {"periods_per_year": 252.0},
    "blocks": [
        {"train": ["1999-01-04T05:00:00+00:00", "2014-12-30T05:00:00+00:00"],
         "valid": ["2015-01-02T05:00:00+00:00", "2016-12-29T05:00:00+00:00"],
         "test": ["2017-01-03T05:00:00+00:00", "2017-12-28T05:00:00+00:00"]},
        {"train": ["1999-01-04T05:00:00+00:00", "2015-12-30T05:00:00+00:00"],
         "valid": ["2016-01-04T05:00:00+00:00", "2016-12-29T05:00:00+00:00"],
         "test": ["2018-01-02T05:00:00+00:00", "2018-12-28T05:00:00+00:00"]},
    ],
}  # fmt: skip
SPREAD = (0.01, 0.03, 0.05, 0.09)  # the trials' per-bar Sharpe ratios


def test_the_dsr_falls_as_the_number_of_trials_grows_and_one_trial_is_the_psr() -> None:
    one = deflate(METRICS, TrialCount(1, (0.09,)))
    m = SharpeMoments(0.09, 500, -0.2, 4.0)
    assert one.dsr["model"] == pytest.approx(probabilistic_sharpe(m))
    assert one.psr["model"] == pytest.approx(probabilistic_sharpe(m))
    dsrs = [deflate(METRICS, TrialCount(n, SPREAD)).dsr["model"] for n in (1, 2, 5, 20, 100)]
    assert all(a > b for a, b in pairwise(dsrs)), dsrs
    assert 0 < dsrs[-1] < dsrs[0] < 1
    # each baseline is deflated with the same N and variance; buy and hold is not a trial
    many = deflate(METRICS, TrialCount(20, SPREAD))
    assert set(many.dsr) == {"model", "majority", "momentum"}
    assert many.dsr["majority"] < one.psr["majority"]  # type: ignore[operator]
    assert model_sharpe(METRICS) == 0.09


def test_without_moments_or_a_known_spread_there_is_no_dsr_and_the_report_says_why() -> None:
    old = {"backtest_model": {"sharpe": 1.2, "ann_return": 0.1}, "test": {}}
    d = deflate(old, TrialCount(3, (0.02,)))
    assert d.dsr == {"model": None} and "per-bar Sharpe" in d.note
    assert "no deflated Sharpe ratio" in luck_sentence(d)
    unknown = deflate(METRICS, TrialCount(3, (0.09,)))
    assert unknown.dsr["model"] is None and "only 1 of the 3 configurations" in unknown.note
    assert deflate(METRICS, TrialCount(3, ())).dsr["model"] is None


def test_the_sentence_says_after_n_configurations_the_chance_of_luck_is_one_minus_dsr() -> None:
    d = deflate(METRICS, TrialCount(7, SPREAD))
    text = luck_sentence(d, 252.0)
    luck = 1 - d.dsr["model"]  # type: ignore[operator]
    assert (
        f"After 7 configurations on this data, the chance that this Sharpe is luck is {luck:.0%}"
        in text
    )
    assert "7 configurations have been tried on this data and test block so far" in text
    assert "the best of 7 skill-free configurations" in text
    single = luck_sentence(deflate(METRICS, TrialCount(1, (0.09,))))
    assert "only configuration tried" in single and "beats zero" in single


RUN = {
    "run_id": "0123456789abcdef0123456789abcdef",
    "run_name": "direction h1 ^GSPC,^IXIC learning_rate=0.1",
    "experiment": "updown",
    "tracking_uri": "sqlite:////x/mlflow.db",
    "run_url": "http://127.0.0.1:5000/#/experiments/1/runs/0123456789abcdef0123456789abcdef",
    "git_commit": "c4b6a17b55eda5a87968e80a1d38b92fb5bd9612",
    "git_dirty": "true",
    "data_sha256": "91a259a9" + "0" * 56,
    "changed_params": {"train.learning_rate": {"committed": "0.05", "now": "0.1"}},
    "trials": 4,
    "trial_sharpes_per_bar": list(SPREAD),
    "test_block": ["2017-01-03T05:00:00+00:00", "2018-12-28T05:00:00+00:00"],
}
BODY = f"<html><body><h1>t</h1><p id=summary>s</p>{REPORT_HEADER_SLOT}<h2>What</h2></body></html>"


def test_the_header_names_run_commit_data_hash_changed_params_and_every_blocks_dates() -> None:
    page = compose_report(BODY, RUN, METRICS, "1d")
    assert REPORT_HEADER_SLOT not in page
    # after the title and first lines, before the body's sections
    assert page.index("id=summary") < page.index('id="provenance"') < page.index("<h2>What")
    header = page[page.index('id="provenance"') : page.index("</section>")]
    for fact in (RUN["run_id"], RUN["run_name"], RUN["run_url"], RUN["git_commit"],
                 "uncommitted changes", RUN["data_sha256"], "train.learning_rate"):  # fmt: skip
        assert fact in header, fact
    assert re.search(r"<td[^>]*>0\.05</td><td[^>]*><b>0\.1</b>", header)
    for dates in ("1999-01-04 to 2014-12-30", "2015-01-02 to 2016-12-29",
                  "2017-01-03 to 2017-12-28", "2016-01-04 to 2016-12-29",
                  "2018-01-02 to 2018-12-28"):  # fmt: skip
        assert dates in header, dates
    assert "fold 2" in header
    assert "After 4 configurations on this data, the chance that this Sharpe is luck is" in header
    # a page without the slot still gets the header, first thing in the body
    assert compose_report("<html><body><p>x</p></body></html>", RUN, METRICS, "1d").startswith(
        '<html><body>\n<section id="provenance">'
    )
    # hourly bars keep the time of day; no committed params: said so
    hourly = compose_report(BODY, {**RUN, "changed_params": None}, METRICS, "1h")
    assert "2017-01-03 05:00+00:00 to 2017-12-28 05:00+00:00" in hourly
    assert "no committed params.yaml to compare with" in hourly


def test_block_periods_are_each_folds_first_and_last_row_per_block() -> None:
    ts = pd.date_range("2020-01-01", periods=10, freq="D", tz="UTC")
    rows = pd.DataFrame({"timestamp": np.repeat(ts, 2)})
    one = pd.Series(np.repeat(["train"] * 5 + ["", "valid", "valid", "test", "test"], 2))
    two = pd.Series(np.repeat(["train"] * 6 + ["valid", "", "test", "test"], 2))
    periods = block_periods(rows, [one, two])
    assert periods[0] == {
        "train": ["2020-01-01T00:00:00+00:00", "2020-01-05T00:00:00+00:00"],
        "valid": ["2020-01-07T00:00:00+00:00", "2020-01-08T00:00:00+00:00"],
        "test": ["2020-01-09T00:00:00+00:00", "2020-01-10T00:00:00+00:00"],
    }
    assert periods[1]["valid"] == ["2020-01-07T00:00:00+00:00", "2020-01-07T00:00:00+00:00"]
    empty = block_periods(rows, [pd.Series(["train"] * 20)])
    assert empty[0]["test"] is None and whole_test_period(empty) is None
    assert whole_test_period(periods) == ("2020-01-09T00:00:00+00:00", "2020-01-10T00:00:00+00:00")


def test_the_importance_chart_shows_no_feature_with_zero_gain() -> None:
    rng = np.random.default_rng(0)
    x = pd.DataFrame({"signal": rng.normal(size=600), "constant": np.ones(600),
                      "noise": rng.normal(size=600)})  # fmt: skip
    y = (x["signal"] + 0.1 * rng.normal(size=600) > 0).astype(int)
    params = {"objective": "binary", "num_leaves": 3, "verbose": -1, "min_gain_to_split": 1.0,
              "deterministic": True, "seed": 1, "num_threads": 1}  # fmt: skip
    booster = lgb.train(params, lgb.Dataset(x, y), num_boost_round=3)
    table = importance_table(booster.model_to_string())
    assert set(table.loc[table["gain"] == 0, "feature"]) >= {"constant"}  # in the CSV, as 0
    shown = importance_shown(table)
    assert list(shown["feature"])[-1] == "signal"  # drawn bottom-up: the largest last
    assert (shown["gain"] > 0).all() and "constant" not in set(shown["feature"])
