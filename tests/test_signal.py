"""The signal sheet: IC and rank IC by horizon against the tradable return, quantile returns,
rank autocorrelation and turnover (updown.assess.signal)."""

import numpy as np
import pandas as pd
import pytest
from synthetic_panels import ohlc_bars
from updown.assess.report_signal import decay_sentence, quantile_sentence
from updown.assess.scoring import per_bar_corr
from updown.assess.signal import (
    bar_corr,
    quantile_of,
    rank_within,
    row_keys,
    signal_sheet,
    tradable_returns,
)
from updown.config import BootstrapConfig

BOOT = BootstrapConfig(resamples=400, block_bars=5, confidence=0.95, seed=0)
HORIZONS = (1, 2, 5)


def _prices(n_tickers: int, n_bars: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    ts = pd.date_range("2020-01-01", periods=n_bars, freq="B", tz="UTC")
    frames = []
    for k in range(n_tickers):
        close = 100 * np.exp(np.cumsum(rng.normal(0, 0.02, n_bars)))
        open_ = close * np.exp(rng.normal(0, 0.01, n_bars))
        frames.append(ohlc_bars(f"T{k:03d}", ts, open_, close, 0.01))
    return pd.concat(frames, ignore_index=True)


def _pred(prices: pd.DataFrame, scores: dict[str, np.ndarray]) -> pd.DataFrame:
    pred = prices[["ticker", "timestamp"]].copy()
    for name, s in scores.items():
        pred[f"score_{name}"] = s
    return pred


def _sheet(prices, scores, entry="next_open", horizons=HORIZONS, boot=BOOT, quantiles=5):
    pred = _pred(prices, scores)
    return signal_sheet(pred, prices, list(scores), entry, horizons, quantiles, boot)


@pytest.mark.parametrize("n_tickers", [1, 30])
def test_a_score_equal_to_the_forward_return_has_rank_ic_one_at_its_horizon_only(n_tickers):
    prices = _prices(n_tickers, 300)
    fwd = tradable_returns(_pred(prices, {}), prices, "next_open", (2,))[2]
    sheet = _sheet(prices, {"model": np.nan_to_num(fwd)})
    rank_ic = {h: sheet.contenders["model"].rank_ic[h].point for h in HORIZONS}
    assert rank_ic[2] == pytest.approx(1.0)
    assert rank_ic[1] < 0.9 and rank_ic[5] < 0.9
    assert sheet.contenders["model"].ic[2].point > 0.99
    assert sheet.contenders["model"].spread[2] > 0
    means = sheet.contenders["model"].quantile_means[2]
    assert (np.diff(means) > 0).all()  # the quantiles line up


@pytest.mark.parametrize("n_tickers", [1, 30])
def test_a_random_score_has_an_ic_interval_that_includes_zero(n_tickers):
    """At most about 1 in 20 intervals of a skill-free score may miss zero (95% intervals)."""
    prices = _prices(n_tickers, 300, seed=1)
    covered = []
    for seed in range(12):
        noise = np.random.default_rng(seed).normal(size=len(prices))
        m = _sheet(prices, {"model": noise}, horizons=(1, 5)).contenders["model"]
        covered += [iv.lo < 0 < iv.hi for h in (1, 5) for iv in (m.ic[h], m.rank_ic[h])]
    assert np.mean(covered) >= 0.85


def test_a_reversed_score_has_a_negative_spread_and_falling_quantiles():
    prices = _prices(30, 200, seed=2)
    fwd = tradable_returns(_pred(prices, {}), prices, "next_open", (1,))[1]
    sheet = _sheet(prices, {"model": -np.nan_to_num(fwd)}, horizons=(1,))
    m = sheet.contenders["model"]
    assert m.spread[1] < 0 and (np.diff(m.quantile_means[1]) < 0).all()
    assert "falls steadily" in quantile_sentence(sheet)
    assert "wrong way" in decay_sentence(sheet)


def test_the_tradable_return_never_spans_a_gap_segment():
    prices = _prices(1, 40)
    prices["segment"] = (np.arange(40) >= 20).astype(int)
    fwd = tradable_returns(_pred(prices, {}), prices, "next_open", (1, 5))
    # next_open, 1 bar: from the open of t+1 to the open of t+2; row 17 is the last inside
    assert np.isfinite(fwd[1][17]) and np.isnan(fwd[1][18:20]).all()
    assert np.isnan(fwd[5][14:20]).all() and np.isfinite(fwd[5][20:34]).all()


def test_a_fixed_ranking_is_perfectly_stable_and_a_random_one_turns_over():
    prices = _prices(40, 120, seed=3)
    ticker_no = prices["ticker"].str[1:].astype(int).to_numpy(dtype=float)
    noise = np.random.default_rng(3).normal(size=len(prices))
    sheet = _sheet(prices, {"model": ticker_no, "linear": noise}, horizons=(1,))
    fixed, rand = sheet.contenders["model"], sheet.contenders["linear"]
    assert fixed.rank_autocorr == pytest.approx(1.0) and fixed.turnover == 0.0
    assert abs(rand.rank_autocorr) < 0.05
    assert rand.turnover == pytest.approx(0.8, abs=0.05)  # 4 in 5 names are new each bar


def test_a_constant_score_ranks_nothing_and_reports_no_figures():
    prices = _prices(10, 120, seed=4)
    sheet = _sheet(prices, {"majority": np.full(len(prices), 0.5)}, horizons=(1,))
    section = sheet.sections()["signal_majority"]
    assert all(np.isnan(v) for v in section.values())


def test_a_horizon_too_long_for_twenty_blocks_gets_no_interval():
    prices = _prices(5, 120, seed=5)  # 120 bars: 20 blocks of at most 6 bars
    noise = np.random.default_rng(5).normal(size=len(prices))
    sheet = _sheet(prices, {"model": noise}, horizons=(1, 5, 10))
    assert set(sheet.no_interval) == {10}
    assert np.isfinite(sheet.contenders["model"].rank_ic[5].lo)
    assert np.isnan(sheet.contenders["model"].rank_ic[10].lo)
    assert "longer than the 10-bar horizon" in sheet.no_interval[10]


def test_per_bar_correlation_matches_the_headline_computation():
    rng = np.random.default_rng(6)
    bar = rng.integers(0, 50, 2000)
    x, y = rng.normal(size=2000), rng.normal(size=2000)
    x[bar == 3] = 1.0  # a constant score in one bar: 0, as the headline scores it
    y[bar == 4] = 2.0  # a constant return: undefined
    ours, theirs = bar_corr(bar, x, y, 51), per_bar_corr(bar, x, y, 51)
    np.testing.assert_allclose(ours, theirs, atol=1e-12)
    assert ours[3] == 0.0 and np.isnan(ours[4]) and np.isnan(ours[50])


def test_quantiles_split_each_bar_evenly_and_a_small_cross_section_keeps_top_and_bottom():
    group = np.repeat([0, 1], [10, 2])
    score = np.r_[np.arange(10.0), [5.0, 1.0]]
    q = quantile_of(group, rank_within(group, score), 5)
    assert q[:10].tolist() == [0, 0, 1, 1, 2, 2, 3, 3, 4, 4]
    assert q[10:].tolist() == [4, 0]


def test_rows_follow_the_previous_bar_only_within_a_ticker():
    prices = _prices(2, 4)
    keys = row_keys(_pred(prices.drop(index=[2]).reset_index(drop=True), {}))
    # T000 misses bar 2: its bar 3 follows no row; T001's rows follow each other
    assert keys.prev.tolist() == [-1, 0, -1, -1, 3, 4, 5]


def test_ranks_within_groups_match_pandas_including_ties():
    rng = np.random.default_rng(8)
    group = rng.integers(0, 30, 3000)
    x = rng.integers(0, 15, 3000).astype(float)  # many ties
    expected = pd.Series(x).groupby(group).rank(method="average").to_numpy()
    np.testing.assert_array_equal(rank_within(group, x), expected)


def test_the_reading_says_when_a_one_bar_signal_has_lost_half_its_strength():
    prices = _prices(30, 300, seed=9)
    fwd = tradable_returns(_pred(prices, {}), prices, "next_open", (1,))[1]
    sheet = _sheet(prices, {"model": np.nan_to_num(fwd)}, horizons=(1, 2, 5, 10))
    # a 1-bar return holds about 1/sqrt(h) of an h-bar one: 0.71 at 2 bars, 0.45 at 5
    assert "loses half its strength by 5 bars" in decay_sentence(sheet)
    assert "rises steadily" in quantile_sentence(sheet)
