"""The monitor's core and the promotion gate: matured calls joined with the tradable forward
return, live figures recomputed by hand, bands from the test period, plain alerts."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from synthetic_panels import ohlc_bars
from updown.errors import UpdownError
from updown.live.drift import feature_drift, psi
from updown.live.figures import live_figures, roc_auc
from updown.live.monitor import matured, monitor, with_drift, with_outcomes
from updown.live.promotion import promote_if_better

TICKERS = ("A", "B", "C")
BARS = 60


def panel(seed: int = 0) -> pd.DataFrame:
    """A validated-looking panel: business days, a random walk per ticker."""
    rng = np.random.default_rng(seed)
    days = pd.bdate_range("2020-01-01", periods=BARS, tz="UTC") + pd.Timedelta(hours=21)
    frames = []
    for t in TICKERS:
        close = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, BARS)))
        open_ = close * np.exp(rng.normal(0, 0.003, BARS))
        frames.append(ohlc_bars(t, days, open_, close, 0.01).assign(segment=np.int32(0)))
    return pd.concat(frames, ignore_index=True)


def journal(
    prices: pd.DataFrame, entry: str = "close", horizon: int = 1, seed: int = 1
) -> pd.DataFrame:
    """One call per ticker and bar, from a random P(up)."""
    rng = np.random.default_rng(seed)
    p = rng.random(len(prices))
    return pd.DataFrame(
        {
            "ticker": prices["ticker"],
            "as_of": prices["timestamp"],
            "horizon": horizon,
            "entry": entry,
            "outcome_bars": horizon + (entry != "close"),
            "label_kind": "direction",
            "model_name": "m",
            "model_version": "1",
            "alias": "champion",
            "role": "champion",
            "run_id": "r",
            "direction": np.where(p > 0.5, "up", "down"),
            "p_up": p,
            "predicted_return": np.nan,
            "stale": False,
            "journalled_at": prices["timestamp"],
        }
    )


@pytest.mark.parametrize(("entry", "horizon"), [("close", 1), ("next_open", 2), ("next_close", 3)])
def test_a_call_matures_once_its_exit_bar_exists_with_the_labels_tradable_return(
    entry: str, horizon: int
) -> None:
    prices = panel()
    rows = with_outcomes(journal(prices, entry, horizon), prices)
    start = 0 if entry == "close" else 1
    for t in TICKERS:
        mine = rows[rows["ticker"] == t].reset_index(drop=True)
        bars = prices[prices["ticker"] == t].reset_index(drop=True)
        price = bars["open" if entry == "next_open" else "close"].to_numpy()
        for i in (0, 10, BARS - start - horizon - 1):
            expected = math.log(price[i + start + horizon] / price[i + start])
            assert mine["realised"][i] == pytest.approx(expected, rel=1e-12)
            assert mine["outcome_at"][i] == bars["timestamp"][i + start + horizon]
        # The last start + horizon bars have not matured: their exit bar is not there yet.
        assert mine["realised"].isna().sum() == start + horizon
        assert mine["outcome_at"][BARS - start - horizon :].isna().all()


def test_live_figures_equal_those_recomputed_by_hand() -> None:
    prices = panel()
    rows = matured(journal(prices), prices)
    got = live_figures(rows)
    y = (rows["realised"] > 0).to_numpy()
    p = rows["p_up"].to_numpy()
    assert got["rows"] == len(prices) - len(TICKERS)
    assert got["hit_rate"] == pytest.approx(((p > 0.5) == y).mean())
    assert got["brier"] == pytest.approx(((p - y) ** 2).mean())
    assert got["log_loss"] == pytest.approx(-(y * np.log(p) + (1 - y) * np.log(1 - p)).mean())
    pairs = [(a, b) for a in p[y] for b in p[~y]]
    assert got["roc_auc"] == pytest.approx(np.mean([(a > b) + 0.5 * (a == b) for a, b in pairs]))
    per_bar = [bar["p_up"].rank().corr(bar["realised"].rank()) for _, bar in rows.groupby("as_of")]
    assert got["rank_ic"] == pytest.approx(np.mean(per_bar))
    assert got["rank_ic_bars"] == BARS - 1


def test_roc_auc_and_rank_ic_need_both_outcomes_and_several_tickers() -> None:
    assert math.isnan(roc_auc(np.array([0.2, 0.9]), np.array([True, True])))
    prices = panel()
    one = prices[prices["ticker"] == "A"].reset_index(drop=True)
    got = live_figures(matured(journal(one), one))
    assert math.isnan(got["rank_ic"]) and got["rank_ic_bars"] == 0
    assert math.isfinite(got["hit_rate"])


def metrics(accuracy: float, auc: tuple[float, float, float]) -> dict:
    """A metrics.json with a bootstrapped ROC AUC over 1000 test rows."""
    return {
        "model": {"accuracy": accuracy, "roc_auc": auc[0], "brier": 0.25, "log_loss": 0.69},
        "bootstrap_roc_auc": {"model_lo": auc[1], "model_hi": auc[2]},
        "test": {"rows": 1000, "bars": 500},
    }


def test_monitor_says_plainly_when_live_performance_falls_outside_the_expected_band() -> None:
    prices = panel()
    live = monitor(journal(prices), prices, {"1": metrics(0.9, (0.8, 0.77, 0.83))}, 20, 20)
    model = live["models"][0]
    assert model["matured"] == len(prices) - len(TICKERS)
    judged = model["whole"]["judged"]
    assert judged["hit_rate"]["status"] == "worse than expected"
    assert judged["roc_auc"]["status"] == "worse than expected"
    # Over n live rows the band is the test interval widened by sqrt(1000 / n).
    n = judged["roc_auc"]["n"]
    assert judged["roc_auc"]["lo"] == pytest.approx(0.8 - 0.03 * math.sqrt(1000 / n))
    assert judged["brier"]["status"] == "no band"
    assert any("live hit rate" in a and "worse than expected" in a for a in live["alerts"])
    assert "falls outside" in live["summary"]
    window = model["window"]["figures"]
    assert window["bars"] == 20 and window["rows"] == 20 * len(TICKERS)


def test_monitor_finds_a_coin_flip_within_a_coin_flips_band_and_withholds_small_samples() -> None:
    prices = panel()
    expected = {"1": metrics(0.5, (0.5, 0.47, 0.53))}
    live = monitor(journal(prices), prices, expected, 20, 20)
    judged = live["models"][0]["whole"]["judged"]
    assert judged["hit_rate"]["status"] == "as expected"
    assert judged["roc_auc"]["status"] == "as expected"
    assert [a for a in live["alerts"] if "whole journal" in a] == []
    few = monitor(journal(prices), prices, expected, 20, 10_000)
    assert few["models"][0]["whole"]["judged"]["hit_rate"]["status"] == "too few calls"
    assert "Too few matured calls" in few["summary"]


def test_monitor_needs_no_test_figures_to_report_live_ones() -> None:
    prices = panel()
    live = monitor(journal(prices), prices, {}, 20, 20)
    entry = live["models"][0]
    assert not entry["has_test_figures"]
    assert entry["whole"]["judged"]["hit_rate"]["status"] == "no test figure"
    assert entry["whole"]["figures"]["hit_rate"] is not None


def test_the_gate_promotes_only_beyond_the_margin_in_the_metrics_own_direction() -> None:
    assert promote_if_better({"roc_auc": 0.55}, {"roc_auc": 0.57}, "roc_auc", 0.01).promote
    assert not promote_if_better({"roc_auc": 0.55}, {"roc_auc": 0.555}, "roc_auc", 0.01).promote
    assert promote_if_better({"brier": 0.25}, {"brier": 0.23}, "brier", 0.01).promote
    assert not promote_if_better({"brier": 0.25}, {"brier": 0.27}, "brier", 0.01).promote
    undefined = promote_if_better({"roc_auc": float("nan")}, {"roc_auc": 0.9}, "roc_auc", 0.0)
    assert not undefined.promote and "undefined" in undefined.reason
    with pytest.raises(UpdownError, match="not one of"):
        promote_if_better({}, {}, "sharpe", 0.0)


def test_psi_is_near_zero_for_the_same_distribution_and_large_for_a_shifted_one() -> None:
    rng = np.random.default_rng(0)
    reference = rng.normal(0, 1, 20_000)
    assert psi(reference, rng.normal(0, 1, 20_000)) < 0.01
    assert psi(reference, rng.normal(1, 1, 20_000)) > 0.5
    # A feature that stops being computed (all NaN) is a shift too.
    assert psi(reference, np.full(100, np.nan)) > 1


def test_feature_drift_flags_the_shifted_feature_beyond_sampling_noise_only() -> None:
    rng = np.random.default_rng(1)
    days = pd.bdate_range("2015-01-01", periods=600, tz="UTC")
    n = len(days)
    shifted = rng.normal(0, 1, n)
    shifted[-50:] += 3  # the last 50 bars moved
    features = pd.DataFrame(
        {
            "ticker": "A",
            "timestamp": days,
            "stable": rng.normal(0, 1, n).astype("float32"),
            "shifted": shifted.astype("float32"),
        }
    )
    train_end = days[399].date()
    drift = feature_drift(features, train_end, 50, 0.25)
    assert drift["drifted"] == ["shifted"]
    assert drift["train_rows"] == 400 and drift["recent_rows"] == 50
    assert drift["psi"]["shifted"] > 1
    assert drift["psi"]["stable"] < 0.25 + drift["noise"]["stable"]
    live = with_drift(monitor(journal(panel()), panel(), {}, 20, 20), drift)
    assert any(
        a.startswith("feature drift: 1 feature(s)") and "shifted" in a for a in live["alerts"]
    )


def _ar1(rng: np.random.Generator, n: int, rho: float) -> np.ndarray:
    x = np.empty(n)
    x[0] = rng.normal()
    shocks = rng.normal(0, np.sqrt(1 - rho**2), n)
    for i in range(1, n):
        x[i] = rho * x[i - 1] + shocks[i]
    return x


def test_a_slow_stationary_feature_is_not_called_drifted_on_a_short_window() -> None:
    # A 60-bar-like feature (lag-1 autocorrelation 0.99) spends any 20 bars in a narrow band:
    # its PSI is far above the threshold plus the independent-rows noise, without any drift.
    rng = np.random.default_rng(7)
    days = pd.bdate_range("2010-01-01", periods=2000, tz="UTC")
    slow = _ar1(rng, len(days), 0.99)
    features = pd.DataFrame({"ticker": "A", "timestamp": days, "slow": slow.astype("float32")})
    drift = feature_drift(features, days[1499].date(), 20, 0.25)
    iid_noise = 9 * (1 / 20 + 1 / 1500)
    assert drift["psi"]["slow"] > 0.25 + iid_noise  # the old rule would have alerted
    assert drift["drifted"] == [] and drift["untestable"] == ["slow"]
    assert drift["noise"]["slow"] > 10 * iid_noise


def test_a_feature_that_stops_being_computed_drifts_however_slow_it_is() -> None:
    rng = np.random.default_rng(8)
    days = pd.bdate_range("2010-01-01", periods=800, tz="UTC")
    slow = _ar1(rng, len(days), 0.99)
    slow[-20:] = np.nan
    features = pd.DataFrame({"ticker": "A", "timestamp": days, "slow": slow})
    drift = feature_drift(features, days[599].date(), 20, 0.25)
    assert drift["drifted"] == ["slow"] and drift["untestable"] == []
