"""train.sample_weight: uniqueness (AFML ch. 4): each training row weighted by its label's average
uniqueness; a no-op at horizon 1, where labels do not overlap."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import pytest
from train_data import params, split_dates, synthetic
from updown.config import build_params
from updown.errors import UpdownError
from updown.learn.tables import training_table
from updown.learn.train import train_model
from updown.learn.uniqueness import average_uniqueness, uniqueness_weights

FAST = {"num_boost_round": 60, "early_stopping_rounds": 0, "min_data_in_leaf": 50, "num_threads": 1}


def _days(n: int) -> pd.DatetimeIndex:
    return pd.date_range("2020-01-01", periods=n, freq="D", tz="UTC")


def test_overlapping_two_bar_labels_have_the_hand_computed_uniqueness():
    # bars 0..4; labels at bars 0, 1, 2 span return bars {1,2}, {2,3}, {3,4}: concurrency
    # 1, 2, 2, 1 on bars 1..4, so uniqueness (1 + 1/2)/2, (1/2 + 1/2)/2, (1/2 + 1)/2.
    ts = _days(5)
    u = average_uniqueness(np.array(["A"] * 3), ts[:3].to_numpy(), ts[2:5].to_numpy())
    np.testing.assert_allclose(u, [0.75, 0.5, 0.75])


def test_tickers_do_not_overlap_each_other_and_a_label_without_an_end_weighs_one():
    ts = _days(5)
    ticker = np.array(["A", "A", "B", "B"])
    start = ts[[0, 1, 0, 1]].to_numpy()
    end = pd.DatetimeIndex([ts[2], ts[3], ts[2], pd.NaT]).to_numpy()
    u = average_uniqueness(ticker, start, end)
    # A: labels {1,2} and {2,3} share bar 2: (1 + 1/2)/2 each; B's second label has no end
    np.testing.assert_allclose(u, [0.75, 0.75, 1.0, 1.0])


def test_one_bar_labels_are_all_unique_and_an_entry_offset_shifts_the_window():
    ts = _days(6)
    ticker = np.array(["A"] * 4)
    assert (average_uniqueness(ticker, ts[:4].to_numpy(), ts[1:5].to_numpy()) == 1.0).all()
    # entered at the next bar, held one bar: return bars {2}, {3}, {4}, {5}: still unique
    u = average_uniqueness(ticker, ts[:4].to_numpy(), ts[2:6].to_numpy(), entry_offset=1)
    assert (u == 1.0).all()


def test_weights_average_one_and_fall_as_labels_overlap_more():
    ts = _days(60)
    ticker = np.array(["A"] * 40)
    w5 = uniqueness_weights(ticker, ts[:40].to_numpy(), ts[5:45].to_numpy())
    u5 = average_uniqueness(ticker, ts[:40].to_numpy(), ts[5:45].to_numpy())
    u20 = average_uniqueness(ticker, ts[:40].to_numpy(), ts[20:60].to_numpy())
    assert w5.mean() == pytest.approx(1.0)
    assert u5[20] == pytest.approx(1 / 5)  # deep inside: 5 labels span every bar
    assert u20.mean() < u5.mean()


def _horizon_labels(horizon: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The synthetic panel relabelled with `horizon`-bar direction labels."""
    prices, features, _ = synthetic(n_bars=800, signal=0.5)
    frames = []
    for ticker, p in prices.groupby("ticker", sort=True):
        logc = np.log(p["close"].to_numpy())
        ts = p["timestamp"].to_numpy()
        fwd = logc[horizon:] - logc[:-horizon]
        frames.append(
            pd.DataFrame(
                {
                    "ticker": ticker,
                    "timestamp": ts[:-horizon],
                    "label": (fwd > 0).astype("int8"),
                    "forward_return": fwd,
                    "label_end": ts[horizon:],
                }
            )
        )
    labels = pd.concat(frames, ignore_index=True)
    labels.attrs = {"label_kind": "direction", "horizon": str(horizon)}
    return features, labels


def _fit(horizon: int, weighting: str) -> tuple[str, dict]:
    features, labels = _horizon_labels(horizon)
    p = params(split=split_dates(800), train={**FAST, "sample_weight": weighting})
    table = training_table(features, labels)
    fold = train_model(table, p.split, p.train, "direction", horizon).final
    return fold.model_text, fold.baselines


def test_uniqueness_weights_change_the_model_and_baselines_only_when_enabled(caplog):
    plain, plain_baselines = _fit(5, "none")
    weighted, weighted_baselines = _fit(5, "uniqueness")
    assert weighted != plain
    assert weighted_baselines["linear"]["coef"] != plain_baselines["linear"]["coef"]
    assert _fit(5, "none")[0] == plain  # and nothing else moves it
    with caplog.at_level(logging.INFO, logger="updown"):
        one_bar, _ = _fit(1, "uniqueness")
    assert one_bar == _fit(1, "none")[0]
    assert "no effect at label.horizon 1" in caplog.text


def test_an_unknown_sample_weight_is_refused_by_the_schema():
    from conftest import REPO
    from updown.safe_yaml import read_yaml

    raw = read_yaml(REPO / "params.yaml")
    raw["train"]["sample_weight"] = "returns"
    with pytest.raises(UpdownError, match="sample_weight"):
        build_params(raw)
