"""Labels pinned on hand-computed examples: direction (dead zone dropped or kept, in return or
volatility units), return (plain and excess), triple barrier (take, stop, both in one bar,
vertical), horizons that run past the end of the data, and every entry point (close, next open,
next close; `auto` follows the backtest's execution)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from synthetic_panels import label_config, tidy
from updown.config import build_params, load_params
from updown.errors import UpdownError
from updown.learn.label import make_labels, resolved
from updown.returns import ENTRY_OF_EXECUTION

REPO = Path(__file__).resolve().parents[1]

DAYS = pd.bdate_range("2024-01-01", periods=12, tz="UTC").as_unit("us")


def bars(
    ticker: str,
    close: list[float],
    high: list[float] | None = None,
    low: list[float] | None = None,
    open_: list[float] | None = None,
    days: pd.DatetimeIndex = DAYS,
    adj: list[float] | None = None,
) -> pd.DataFrame:
    n = len(close)
    return pd.DataFrame(
        {
            "ticker": ticker,
            "timestamp": days[:n],
            "open": open_ or close,
            "high": high or close,
            "low": low or close,
            "close": close,
            "adj_close": adj or close,
            "volume": 1000.0,
        }
    )


def panel_of(*frames: pd.DataFrame) -> pd.DataFrame:
    return tidy(pd.concat(frames, ignore_index=True))


def test_direction_is_up_down_with_ties_down_and_the_last_bars_unlabelled() -> None:
    panel = panel_of(bars("X", [10, 11, 10.5, 10.5, 12]))
    out = make_labels(panel, label_config())
    assert out["label"].tolist() == [1, 0, 0, 1]  # 10.5 -> 10.5 is not up
    np.testing.assert_allclose(out["forward_return"], np.log([11 / 10, 10.5 / 11, 1.0, 12 / 10.5]))
    assert out["label_end"].tolist() == DAYS[1:5].tolist()
    assert out.attrs == {
        "label_kind": "direction",
        "horizon": "1",
        "entry": "close",
        "num_classes": "2",
    }


def test_a_horizon_past_the_end_of_the_data_leaves_those_bars_unlabelled() -> None:
    panel = panel_of(bars("X", [10, 11, 12, 9, 10]), bars("Y", [5, 6]))
    out = make_labels(panel, label_config(horizon=3))
    assert out["ticker"].tolist() == ["X", "X"]  # Y has no bar 3 ahead
    assert out["label"].tolist() == [0, 0]  # 10 -> 9, 11 -> 10
    assert out["label_end"].tolist() == [DAYS[3], DAYS[4]]
    assert make_labels(panel_of(bars("Y", [5, 6])), label_config(horizon=3)).empty


def test_direction_uses_adjusted_closes() -> None:
    # A 2:1 split between bars 1 and 2: raw close halves, the adjusted close rises 10%.
    panel = panel_of(bars("X", [100, 100, 55], adj=[50, 50, 55]))
    out = make_labels(panel, label_config())
    assert out["label"].tolist() == [0, 1]
    assert out["forward_return"].iloc[1] == pytest.approx(math.log(1.1))


def test_dead_zone_in_return_units_is_dropped_or_kept_as_class_2() -> None:
    panel = panel_of(bars("X", [100, 103, 102, 96, 96.5]))  # +2.96%, -0.98%, -6.06%, +0.52%
    dropped = make_labels(panel, label_config(threshold=0.02))
    assert dropped["label"].tolist() == [1, 0]
    assert dropped["timestamp"].tolist() == [DAYS[0], DAYS[2]]
    kept = make_labels(panel, label_config(threshold=0.02, dead_zone="keep"))
    assert kept["label"].tolist() == [1, 2, 0, 2]
    assert kept.attrs["num_classes"] == "3"


def test_dead_zone_in_volatility_units_scales_with_the_trailing_volatility() -> None:
    # One-bar log returns +0.01, -0.01: their std (vol_window 2) is 0.01 * sqrt(2) = 0.01414.
    c0 = 100.0
    closes = [c0, c0 * math.exp(0.01), c0, c0 * math.exp(0.012), c0 * math.exp(0.012 - 0.02)]
    panel = panel_of(bars("X", closes))
    out = make_labels(
        panel,
        label_config(threshold=1.0, threshold_unit="volatility", vol_window=2, dead_zone="keep"),
    )
    # Bars 0 and 1 have no volatility yet. Bar 2: next return +0.012 is inside +-0.01414, flat.
    # Bar 3: vol of (-0.01, +0.012) = 0.01556; next return -0.02 is below, down.
    assert out["timestamp"].tolist() == [DAYS[2], DAYS[3]]
    assert out["label"].tolist() == [2, 0]


def test_return_labels_are_the_forward_log_return() -> None:
    panel = panel_of(bars("X", [10, 12, 9, 9.9]))
    out = make_labels(panel, label_config(kind="return", horizon=2))
    np.testing.assert_allclose(out["label"], np.log([9 / 10, 9.9 / 12]))
    np.testing.assert_allclose(out["label"], out["forward_return"])
    assert out["label"].dtype == np.float64
    assert out.attrs == {
        "label_kind": "return",
        "horizon": "2",
        "entry": "close",
        "excess": "false",
    }


def test_excess_return_is_demeaned_across_tickers_and_ends_with_the_latest_window() -> None:
    # Y misses day 1, so Y's next bar after day 0 is day 2: the mean at day 0 looks that far.
    days_y = DAYS[[0, 2, 3]]
    a = bars("A", [100, 100 * math.exp(0.03), 100 * math.exp(0.05), 100])
    y = bars("Y", [50, 50 * math.exp(0.01), 50 * math.exp(0.04)], days=days_y)
    out = make_labels(panel_of(a, y), label_config(kind="return", excess=True))
    at0 = out[out["timestamp"] == DAYS[0]].set_index("ticker")
    assert at0.loc["A", "label"] == pytest.approx(0.01)  # 0.03 - mean(0.03, 0.01)
    assert at0.loc["Y", "label"] == pytest.approx(-0.01)
    assert at0.loc["A", "forward_return"] == pytest.approx(0.03)  # the plain return stays
    assert (at0["label_end"] == DAYS[2]).all()  # Y's window ends on day 2
    # Day 1 has only A: no cross-section, no excess label.
    assert DAYS[1] not in set(out["timestamp"])


def test_excess_direction_labels_beat_the_cross_section() -> None:
    a = bars("A", [100, 101])
    b = bars("B", [100, 103])
    out = make_labels(panel_of(a, b), label_config(excess=True)).set_index("ticker")
    assert out.loc["A", "label"] == 0 and out.loc["B", "label"] == 1  # both rose; B rose more


def test_excess_needs_several_tickers() -> None:
    with pytest.raises(UpdownError, match=r"label\.excess"):
        make_labels(panel_of(bars("X", [1, 2, 3])), label_config(kind="return", excess=True))


# Triple barrier: bars 0-2 set the volatility (returns +0.01, -0.01 -> sigma 0.01 * sqrt(2));
# with horizon 2 the barriers sit at +-sigma * sqrt(2) = +-0.02 in log return around close 100.
# Only bar 2 gets a label: it is the one bar with both a volatility and two bars after it.
E = math.exp
LEAD = [100.0, 100 * E(0.01), 100.0]


def barrier_case(after: list[tuple[float, float, float, float]], ticker: str = "X") -> pd.DataFrame:
    """Bars 0-2 then the given (open, high, low, close) bars."""
    o = [*LEAD, *(b[0] for b in after)]
    h = [*LEAD, *(b[1] for b in after)]
    lo = [*LEAD, *(b[2] for b in after)]
    c = [*LEAD, *(b[3] for b in after)]
    return bars(ticker, c, high=h, low=lo, open_=o)


def triple(panel: pd.DataFrame, **kw: object) -> pd.DataFrame:
    settings = {"kind": "triple_barrier", "horizon": 2, "vol_window": 2, **kw}
    return make_labels(panel, label_config(**settings))


@pytest.mark.parametrize(
    ("after", "label", "touch", "end_bar", "exit_close"),
    [
        # the high of bar 3 reaches +0.025 > +0.02: profit taken on bar 3
        ([(100, 100 * E(0.025), 99.5, 101), (101, 101, 101, 101)], 1, "take", 3, 101),
        # the low of bar 3 reaches -0.03: stopped on bar 3, even though bar 4 rallies
        ([(100, 100.5, 100 * E(-0.03), 99), (99, 110, 99, 110)], 0, "stop", 3, 99),
        # bar 3 reaches both, opening inside the band: the stop is assumed first
        ([(100, 100 * E(0.03), 100 * E(-0.03), 101), (101, 101, 101, 101)], 0, "stop", 3, 101),
        # bar 3 reaches both, having gapped open above the upper barrier: taken
        ([(100 * E(0.025), 100 * E(0.03), 100 * E(-0.03), 99), (99, 99, 99, 99)], 1, "take", 3, 99),
        # quiet until bar 4's high: taken on bar 4
        ([(100, 101, 99, 100.5), (100.5, 100 * E(0.021), 100, 101)], 1, "take", 4, 101),
        # no barrier within 2 bars, ends up: vertical, 1
        ([(100, 101, 99, 100.5), (100.5, 101.5, 99.5, 101)], 1, "vertical", 4, 101),
        # no barrier within 2 bars, ends down: vertical, 0
        ([(100, 101, 99, 100.5), (100.5, 101.5, 99.5, 99.8)], 0, "vertical", 4, 99.8),
    ],
)
def test_triple_barrier_first_touch(
    after: list[tuple[float, float, float, float]],
    label: int,
    touch: str,
    end_bar: int,
    exit_close: float,
) -> None:
    out = triple(panel_of(barrier_case(after)))
    assert len(out) == 1 and out["timestamp"].iloc[0] == DAYS[2]
    row = out.iloc[0]
    assert (row["label"], row["touch"], row["label_end"]) == (label, touch, DAYS[end_bar])
    assert row["forward_return"] == pytest.approx(math.log(exit_close / 100))


def test_triple_barrier_widths_follow_profit_take_and_stop_loss() -> None:
    # Bar 3's low at -0.03 is inside a stop at 2 x 0.02 = -0.04; its high at +0.025 is beyond
    # a profit-take at 1 x 0.02.
    case = barrier_case([(100, 100 * E(0.025), 100 * E(-0.03), 100), (100, 100, 100, 100)])
    out = triple(panel_of(case), stop_loss=2.0)
    assert (out["label"].iloc[0], out["touch"].iloc[0]) == (1, "take")
    out = triple(panel_of(case), profit_take=2.0)
    assert (out["label"].iloc[0], out["touch"].iloc[0]) == (0, "stop")


def test_triple_barrier_past_the_end_of_the_data_is_not_labelled_even_if_touched() -> None:
    # Bar 3 takes profit, but bar 4 (the vertical barrier) does not exist.
    case = barrier_case([(100, 100 * E(0.05), 100, 101)])
    assert triple(panel_of(case)).empty
    assert triple(panel_of(case)).attrs["label_kind"] == "triple_barrier"


def test_label_settings_are_checked_with_their_key() -> None:
    raw = load_params("params.yaml").raw
    bad = {**raw, "label": {**raw["label"], "kind": "sideways"}}
    with pytest.raises(UpdownError, match=r"label\.kind"):
        build_params(bad)
    both = {**raw, "label": {**raw["label"], "kind": "triple_barrier", "excess": True}}
    with pytest.raises(UpdownError, match=r"label\.excess"):
        build_params(both)


def test_a_gap_ends_a_segment_as_the_last_bar_ends_a_ticker() -> None:
    """Bars 0-4 and 5-9 are segments 0 and 1 (validate numbers them at a long gap): the last
    bar before the gap is unlabelled, and no label, return or volatility reaches across."""
    panel = panel_of(bars("X", [10, 11, 12, 11, 13, 50, 55, 50, 52, 54]))
    panel["segment"] = [0] * 5 + [1] * 5
    out = make_labels(panel, label_config())
    assert out["timestamp"].tolist() == [DAYS[i] for i in (0, 1, 2, 3, 5, 6, 7, 8)]
    assert (out["label_end"] != DAYS[5]).all() and out["forward_return"].abs().max() < 0.2
    assert make_labels(panel, label_config(horizon=5)).empty  # five bars ahead: none in a segment
    # The trailing volatility (2 returns) restarts too: bars 5 and 6 have no scale yet.
    for cfg in (
        label_config(threshold=0.01, threshold_unit="volatility", vol_window=2),
        label_config(kind="triple_barrier", horizon=1, vol_window=2),
    ):
        assert make_labels(panel, cfg)["timestamp"].tolist() == [DAYS[i] for i in (2, 3, 7, 8)]
    # Without the column the same bars are one stretch, and the 13 -> 50 jump is a label.
    whole = make_labels(panel.drop(columns="segment"), label_config())
    assert whole["forward_return"].iloc[4] == pytest.approx(math.log(50 / 13))


# -- entry points ----------------------------------------------------------------------------


def test_next_open_labels_run_from_the_next_open_to_the_open_horizon_bars_later() -> None:
    o = [10.0, 11.0, 9.0, 12.0, 12.5, 13.0]
    c = [10.5, 10.0, 9.5, 12.2, 12.0, 12.8]
    panel = panel_of(bars("X", c, open_=o, high=[max(a, b) for a, b in zip(o, c, strict=True)],
                          low=[min(a, b) for a, b in zip(o, c, strict=True)]))  # fmt: skip
    out = make_labels(panel, label_config(kind="return", horizon=2, entry="next_open"))
    # bar t: open[t+1] -> open[t+3]; the last three bars have no open three bars ahead
    np.testing.assert_allclose(out["label"], np.log([12 / 11, 12.5 / 9, 13 / 12]))
    assert out["label_end"].tolist() == DAYS[3:6].tolist()
    up = make_labels(panel, label_config(entry="next_open"))
    assert up["label"].tolist() == [0, 1, 1, 1]  # 11 -> 9, 9 -> 12, 12 -> 12.5, 12.5 -> 13
    assert up.attrs["entry"] == "next_open"


def test_next_close_labels_run_from_the_next_close() -> None:
    panel = panel_of(bars("X", [10, 11, 9, 12, 12.5]))
    out = make_labels(panel, label_config(kind="return", entry="next_close"))
    np.testing.assert_allclose(out["forward_return"], np.log([9 / 11, 12 / 9, 12.5 / 12]))
    assert out["label_end"].tolist() == DAYS[2:5].tolist()


def test_auto_entry_is_where_the_backtest_trades_and_an_explicit_entry_stays() -> None:
    raw = load_params(REPO / "params.yaml").raw
    assert raw["label"]["entry"] == "auto"
    for execution, entry in ENTRY_OF_EXECUTION.items():
        bt = {**raw["evaluate"]["backtest"], "execution": execution}
        params = build_params({**raw, "evaluate": {**raw["evaluate"], "backtest": bt}})
        assert resolved(params).entry == entry
    explicit = build_params({**raw, "label": {**raw["label"], "entry": "close"}})
    assert resolved(explicit).entry == "close"
    with pytest.raises(UpdownError, match=r"label\.entry"):
        build_params({**raw, "label": {**raw["label"], "entry": "tomorrow"}})


@pytest.mark.parametrize(
    ("entry", "after", "label", "touch", "end_bar", "exit_price"),
    [
        # Bar 3 gaps up 3% at its open: the close entry is through the profit-take at once, the
        # next-open entry buys at that open and the path after it stays inside the band.
        ("close", [(100 * E(0.03),) * 4, (100 * E(0.03),) * 4, (100 * E(0.035),) * 4],
         1, "take", 3, 100 * E(0.03)),
        ("next_open", [(100 * E(0.03),) * 4, (100 * E(0.03),) * 4, (100 * E(0.035),) * 4],
         1, "vertical", 5, 100 * E(0.035)),
        # Entry at bar 3's open (100); bar 4's low is 3% below: stopped, out at bar 5's open.
        ("next_open", [(100, 100.5, 99.5, 100), (100, 100.5, 100 * E(-0.03), 99), (98,) * 4],
         0, "stop", 5, 98),
        # Quiet bars 3 and 4; bar 5 opens 2.5% above the entry: the vertical point gaps
        # through the profit-take, which counts as a take.
        ("next_open", [(100, 100.5, 99.5, 100), (100, 100.5, 99.5, 100.5), (100 * E(0.025),) * 4],
         1, "take", 5, 100 * E(0.025)),
        # Entry at bar 3's close (100): bar 4's high takes profit, out at bar 4's close.
        ("next_close", [(100, 100.5, 99.5, 100), (100, 100 * E(0.025), 99.5, 101), (101,) * 4],
         1, "take", 4, 101),
    ],
)  # fmt: skip
def test_triple_barrier_measures_from_the_entry_price_on_the_path_after_it(
    entry: str,
    after: list[tuple[float, ...]],
    label: int,
    touch: str,
    end_bar: int,
    exit_price: float,
) -> None:
    full = [a if len(a) == 4 else a * 4 for a in after]
    out = triple(panel_of(barrier_case(full)), entry=entry)  # type: ignore[arg-type]
    assert out["timestamp"].iloc[0] == DAYS[2]  # bars 0-1 have no volatility yet
    row = out.iloc[0]
    assert (row["label"], row["touch"], row["label_end"]) == (label, touch, DAYS[end_bar])
    entry_price = (
        full[0][0] if entry == "next_open" else (100.0 if entry == "close" else full[0][3])
    )
    assert row["forward_return"] == pytest.approx(math.log(exit_price / entry_price))
