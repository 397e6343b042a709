"""The backtest trades on the bar after the signal, charges costs on turnover, tests what the
label asks (calls or a ranking), runs every turnover control on each contender alike, and reports
the figures a reader expects (annualised return, volatility, Sharpe, drawdown, turnover, PSR,
cost curve and break-even cost)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest
from train_data import synthetic
from updown.assess import portfolio as pf
from updown.assess.backtest import (
    FIGURES,
    PSR_KEYS,
    backtest,
    cost_key,
    estimate_periods_per_year,
    long_flat_weights,
    long_short_weights,
    run,
    summary,
    trade_returns,
)
from updown.config import BacktestConfig
from updown.contract import REGRESSION
from updown.errors import UpdownError

CFG = BacktestConfig(mode="auto", execution="open", cost_bps=10.0, quantile=0.25,
                     periods_per_year=None, top_k=None, max_swaps=1, hold_bars=1, band=0.0,
                     cost_curve_bps=(0.0, 5.0, 10.0))  # fmt: skip


def test_the_signal_of_bar_t_earns_the_move_from_bar_t_plus_1_to_t_plus_2() -> None:
    prices, _, _ = synthetic(n_bars=30, tickers=("AAA",))
    out = trade_returns(prices, "close")
    c = prices["close"].to_numpy()
    assert out["trade_return"].iloc[5] == pytest.approx(c[7] / c[6] - 1)
    o = prices["open"].to_numpy() * prices["adj_close"].to_numpy() / c
    assert trade_returns(prices, "open")["trade_return"].iloc[5] == pytest.approx(o[7] / o[6] - 1)
    assert out["trade_return"].iloc[-2:].isna().all()  # no bar t+2 to exit on


def test_nothing_up_to_and_including_bar_t_can_change_what_its_signal_earns() -> None:
    prices, _, _ = synthetic(n_bars=60, tickers=("AAA", "BBB"))
    t = 40
    before = trade_returns(prices, "open")
    shaken = prices.copy()
    rows = (shaken.groupby("ticker").cumcount() <= t).to_numpy()
    for col in ("open", "high", "low", "close", "adj_close"):
        shaken.loc[rows, col] *= 1.37
    after = trade_returns(shaken, "open")
    at_t = (prices.groupby("ticker").cumcount() == t).to_numpy()
    assert np.allclose(before.loc[at_t, "trade_return"], after.loc[at_t, "trade_return"])
    # and the next bar's open does change it: the trade really happens at t + 1
    shaken.loc[(prices.groupby("ticker").cumcount() == t + 1).to_numpy(), "open"] *= 1.1
    moved = trade_returns(shaken, "open")
    assert not np.allclose(before.loc[at_t, "trade_return"], moved.loc[at_t, "trade_return"])


def test_costs_are_charged_on_every_switch_and_long_flat_always_up_is_buy_and_hold() -> None:
    idx = pd.date_range("2020-01-01", periods=4, tz="UTC")
    r = pd.DataFrame({"X": [0.01, -0.02, 0.03, 0.01]}, index=idx)
    w = long_flat_weights(pd.DataFrame({"X": [1.0, 0.0, 1.0, 1.0]}, index=idx))
    bars = run(w, r, cost_bps=10.0)
    assert bars["turnover"].tolist() == [1.0, 1.0, 1.0, 0.0]
    assert bars["net"].tolist() == pytest.approx([0.01 - 0.001, -0.001, 0.03 - 0.001, 0.01])
    always = run(long_flat_weights(pd.DataFrame({"X": [1.0] * 4}, index=idx)), r, 10.0)
    assert always["gross"].tolist() == pytest.approx(r["X"].tolist())
    assert always["cost"].sum() == pytest.approx(0.001)  # only the entry


def test_long_short_holds_the_top_and_bottom_quantile_dollar_neutral() -> None:
    idx = pd.date_range("2020-01-01", periods=2, tz="UTC")
    score = pd.DataFrame(
        {"A": [4.0, 1.0], "B": [3.0, 1.0], "C": [2.0, 1.0], "D": [1.0, 1.0]}, index=idx
    )
    w = long_short_weights(score, quantile=0.25)
    assert w.iloc[0].tolist() == [1.0, 0.0, 0.0, -1.0]
    assert w.iloc[1].tolist() == [0.0, 0.0, 0.0, 0.0]  # a constant score cannot rank: no book
    w2 = long_short_weights(score.iloc[:1], quantile=0.5)
    assert w2.iloc[0].tolist() == [0.5, 0.5, -0.5, -0.5]


def test_summary_figures_match_a_hand_computation() -> None:
    net = np.array([0.10, -0.20, 0.05, 0.0])
    bars = pd.DataFrame({"gross": net, "cost": 0.0, "net": net, "turnover": [1, 0, 0, 0],
                         "exposure": 1.0})  # fmt: skip
    s = summary(bars, periods_per_year=4)
    equity = np.cumprod(1 + net)
    assert s["total_return"] == pytest.approx(equity[-1] - 1)
    assert s["ann_return"] == pytest.approx(equity[-1] - 1)  # four bars = one year
    assert s["max_drawdown"] == pytest.approx(equity[1] / equity[0] - 1)
    assert s["ann_vol"] == pytest.approx(np.std(net, ddof=1) * 2)
    assert s["sharpe"] == pytest.approx(net.mean() / np.std(net, ddof=1) * 2)
    assert s["turnover"] == pytest.approx(0.25)
    assert list(s) == list(FIGURES)  # the report's backtest columns are exactly these figures


def test_daily_bars_annualise_at_about_252_a_year() -> None:
    days = pd.bdate_range("2015-01-01", "2016-12-31", tz="UTC")
    assert 255 < estimate_periods_per_year(pd.Index(days)) < 265  # weekdays, no holidays


def _predictions(prices: pd.DataFrame, labels: pd.DataFrame) -> pd.DataFrame:
    """Contenders with known behaviour: an oracle of the traded move, always-up, and a coin."""
    pred = labels[["ticker", "timestamp"]].copy()
    moves = pred.merge(trade_returns(prices, "open"), on=["ticker", "timestamp"])["trade_return"]
    rng = np.random.default_rng(0)
    for name, score in (("oracle", moves.fillna(0).to_numpy()),
                        ("always_up", np.ones(len(pred))),
                        ("coin", rng.standard_normal(len(pred)))):  # fmt: skip
        pred[f"score_{name}"] = score
        pred[f"up_{name}"] = score > 0
    return pred


def test_an_oracle_of_the_next_bar_wins_and_always_up_matches_buy_and_hold() -> None:
    prices, _, labels = synthetic(n_bars=300, tickers=("AAA",))
    pred = _predictions(prices, labels)
    res = backtest(pred, prices, ["oracle", "always_up", "coin"], CFG)
    assert res.mode == "long_flat"
    assert res.stats["oracle"]["sharpe"] > 5
    assert res.stats["always_up"]["ann_return"] == pytest.approx(
        res.stats["buy_and_hold"]["ann_return"]
    )
    assert res.stats["coin"]["turnover"] > 0.3
    assert list(res.equity.columns) == ["oracle", "always_up", "coin", "buy_and_hold"]


def test_a_return_label_ranks_top_minus_bottom_and_an_unranked_signal_stays_in_cash() -> None:
    prices, _, labels = synthetic(n_bars=300)
    pred = _predictions(prices, labels)
    res = backtest(pred, prices, ["oracle", "always_up", "coin"], CFG, REGRESSION)
    assert res.mode == "long_short"
    assert res.stats["oracle"]["ann_return"] > res.stats["buy_and_hold"]["ann_return"]
    assert res.stats["oracle"]["exposure"] == pytest.approx(2.0)
    assert res.stats["always_up"]["exposure"] == 0.0
    forced = dataclasses.replace(CFG, mode="long_flat")
    flat = backtest(_predictions(prices, labels), prices, ["always_up"], forced)
    assert flat.stats["always_up"]["ann_return"] == pytest.approx(
        flat.stats["buy_and_hold"]["ann_return"]
    )


def test_long_short_on_one_ticker_is_refused() -> None:
    prices, _, labels = synthetic(n_bars=100, tickers=("AAA",))
    cfg = dataclasses.replace(CFG, mode="long_short")
    with pytest.raises(UpdownError, match="long_short needs at least two tickers"):
        backtest(_predictions(prices, labels), prices, ["coin"], cfg)


def test_history_before_the_first_signal_changes_nothing() -> None:
    """The backtest drops the bars before the first signal (a trade only looks forward)."""
    rng = np.random.default_rng(5)
    days = pd.date_range("2020-01-01", periods=120, freq="D", tz="UTC")
    tickers = ["A", "B", "C"]
    prices = pd.DataFrame(
        {
            "ticker": np.repeat(tickers, len(days)),
            "timestamp": np.tile(days, len(tickers)),
        }
    )
    close = np.exp(np.cumsum(rng.normal(0, 0.01, len(prices))))
    for col in ("open", "high", "low", "close", "adj_close"):
        prices[col] = close * (1 + rng.normal(0, 0.001, len(prices)))
    prices["volume"] = 1e6
    test = prices[prices["timestamp"] >= days[80]].reset_index(drop=True)
    pred = test[["ticker", "timestamp"]].copy()
    for name in ("model", "coin"):
        pred[f"score_{name}"] = rng.random(len(pred))
        pred[f"up_{name}"] = pred[f"score_{name}"] > 0.5
    cfg = dataclasses.replace(CFG, mode="long_short", cost_bps=5.0, quantile=0.34)
    full = backtest(pred, prices, ["model", "coin"], cfg)
    recent = backtest(pred, test, ["model", "coin"], cfg)
    assert full.stats == recent.stats
    pd.testing.assert_frame_equal(full.equity, recent.equity)


# -- what the label asks, turnover control, PSR and the cost curve -------------------------------


def test_a_call_label_on_several_tickers_trades_each_tickers_call_not_a_ranking() -> None:
    prices, _, labels = synthetic(n_bars=300)
    pred = _predictions(prices, labels)
    res = backtest(pred, prices, ["oracle", "always_up"], CFG)  # a direction label's task
    assert res.mode == "long_flat"
    assert res.stats["always_up"]["ann_return"] == pytest.approx(
        res.stats["buy_and_hold"]["ann_return"]
    )
    both = backtest(pred, prices, ["oracle"], dataclasses.replace(CFG, mode="long_short_calls"))
    assert both.stats["oracle"]["exposure"] == pytest.approx(1.0)  # every sleeve long or short
    assert both.stats["oracle"]["sharpe"] > res.stats["oracle"]["sharpe"] > 5


def test_the_label_with_entry_auto_measures_the_return_the_backtest_trades() -> None:
    from synthetic_panels import label_config, make_panel
    from updown.learn.label import make_labels
    from updown.returns import ENTRY_OF_EXECUTION

    panel = make_panel(3, 3, n_days=60)
    for execution, entry in ENTRY_OF_EXECUTION.items():
        labels = make_labels(panel, label_config(kind="return", entry=entry))
        traded = labels[["ticker", "timestamp"]].merge(trade_returns(panel, execution))
        np.testing.assert_allclose(np.log1p(traded["trade_return"]), labels["forward_return"])


def test_top_k_dropout_holds_k_names_per_leg_and_swaps_at_most_max_swaps() -> None:
    idx = pd.date_range("2020-01-01", periods=3, tz="UTC")
    score = pd.DataFrame(
        [[6.0, 5, 4, 3, 2, 1], [1, 2, 3, 4, 5, 6], [1, 2, 3, 4, 5, 6]], index=idx,
        columns=list("ABCDEF"),
    )  # fmt: skip
    w = pf.top_k_weights(score, k=2, max_swaps=1)
    assert w.iloc[0].tolist() == [0.5, 0.5, 0, 0, -0.5, -0.5]
    # The ranking flips: each leg lets its worst name go for the best newcomer, one a bar.
    assert w.iloc[1].tolist() == [-0.5, 0.5, 0, 0, -0.5, 0.5]
    assert w.iloc[2].tolist() == [-0.5, -0.5, 0, 0, 0.5, 0.5]
    free = pf.top_k_weights(score, k=2, max_swaps=2)
    assert free.iloc[1].tolist() == [-0.5, -0.5, 0, 0, 0.5, 0.5]
    flat = pf.top_k_weights(score * 0 + 1.0, k=2, max_swaps=1)
    assert (flat == 0).all().all()  # a score that cannot rank holds nothing


def test_held_cohorts_average_the_last_books_and_the_band_skips_small_changes() -> None:
    idx = pd.date_range("2020-01-01", periods=4, tz="UTC")
    present = pd.DataFrame({"X": [True, True, True, True]}, index=idx)
    base = pd.DataFrame({"X": [1.0, 0.0, 0.0, 1.0]}, index=idx)
    assert pf.cohort_weights(base, 2, present)["X"].tolist() == [0.5, 0.5, 0.0, 0.5]
    target = pd.DataFrame({"X": [0.5, 0.52, 0.6, 0.58]}, index=idx)
    assert pf.banded_weights(target, 0.05, present)["X"].tolist() == [0.5, 0.5, 0.6, 0.6]
    gone = present.assign(X=[True, True, False, True])
    assert pf.banded_weights(target, 0.05, gone)["X"].tolist() == [0.5, 0.5, 0.0, 0.58]


def test_every_contender_gets_every_applicable_portfolio_and_control_lowers_turnover() -> None:
    prices, _, labels = synthetic(n_bars=300, tickers=tuple(f"T{i}" for i in range(8)))
    pred = _predictions(prices, labels)
    cfg = dataclasses.replace(CFG, top_k=2, max_swaps=1, hold_bars=5, band=0.05)
    res = backtest(pred, prices, ["oracle", "coin"], cfg, REGRESSION)
    assert list(res.portfolios) == ["unconstrained", "top_k", "hold_bars", "band"]
    assert {"backtest_coin", "backtest_top_k_coin", "backtest_band_oracle"} <= set(res.sections())
    for p, by_name in res.portfolios.items():
        assert set(by_name) >= {"oracle", "coin"}
        if p in ("top_k", "hold_bars"):
            assert by_name["coin"]["turnover"] < res.stats["coin"]["turnover"]
        assert by_name["coin"]["turnover"] <= res.stats["coin"]["turnover"]
    # top_k needs two legs of k names: not offered for calls, nor with too few tickers
    calls = backtest(pred, prices, ["coin"], cfg)
    assert list(calls.portfolios) == ["unconstrained", "hold_bars", "band"]
    few = dataclasses.replace(cfg, top_k=5)
    assert "top_k" not in backtest(pred, prices, ["coin"], few, REGRESSION).portfolios


def test_break_even_cost_is_where_the_mean_net_return_and_the_sharpe_cross_zero() -> None:
    prices, _, labels = synthetic(n_bars=400, tickers=("AAA",))
    res = backtest(_predictions(prices, labels), prices, ["oracle", "coin"], CFG)
    oracle = res.stats["oracle"]
    be = oracle["break_even_bps"]
    assert be > 0
    bars = backtest(
        _predictions(prices, labels), prices, ["oracle"],
        dataclasses.replace(CFG, cost_bps=be, cost_curve_bps=(be,)),
    )  # fmt: skip
    assert bars.stats["oracle"][f"sharpe_at_{cost_key(be)}"] == pytest.approx(0.0, abs=1e-9)
    curve = [oracle[f"sharpe_at_{c}bp"] for c in ("0", "5", "10")]
    assert curve == sorted(curve, reverse=True)  # more cost, less Sharpe
    assert oracle["sharpe_at_10bp"] == pytest.approx(oracle["sharpe"])  # CFG: 10 bp


def test_every_strategy_carries_its_psr_and_moments_or_null_on_too_few_bars() -> None:
    from updown.assess.evaluate import round_floats
    from updown.assess.sharpe import moments, probabilistic_sharpe

    prices, _, labels = synthetic(n_bars=300, tickers=("AAA",))
    res = backtest(_predictions(prices, labels), prices, ["oracle", "coin"], CFG)
    for by_name in res.portfolios.values():
        for sec in by_name.values():
            assert set(PSR_KEYS) <= set(sec)
    net = res.equity["oracle"].pct_change().fillna(res.equity["oracle"].iloc[0] - 1.0)
    m = moments(net.to_numpy())
    assert m is not None and res.stats["oracle"]["psr"] == pytest.approx(probabilistic_sharpe(m))
    assert res.stats["oracle"]["bars"] == m.bars
    short, _, short_labels = synthetic(n_bars=20, tickers=("AAA",))
    tiny = backtest(_predictions(short, short_labels), short, ["coin"], CFG)
    assert all(tiny.stats["coin"][k] is None for k in PSR_KEYS)
    assert round_floats({"s": tiny.stats["coin"]})["s"]["psr"] is None  # null in metrics.json
