"""Features: each family against a plain per-window reference, per-ticker isolation, presets,
switches, cross-sectional ranks and the calendar."""

from __future__ import annotations

import dataclasses
import itertools

import numpy as np
import pandas as pd
import pytest
from synthetic_panels import make_panel, small_features, tidy
from updown.config import build_params, load_params
from updown.errors import UpdownError
from updown.learn import features as features_module
from updown.learn.features import (
    QLIB14,
    feature_names,
    make_features,
    planned_names,
    volume_names,
)
from updown.panel import adjusted_ohlc, ticker_spans


def reference(panel: pd.DataFrame, name: str) -> np.ndarray:
    """`name` computed the slow, obvious way: one ticker and one window at a time."""
    out = []
    for _, g in panel.groupby("ticker", sort=True):
        b = adjusted_ohlc(g.reset_index(drop=True))
        c, h, lo, v = b["close"].to_numpy(), b["high"].to_numpy(), b["low"].to_numpy(), None
        v = b["volume"].to_numpy()
        logc = np.log(c)
        r1 = np.r_[np.nan, np.diff(logc)]
        kind, w = name.rsplit("_", 1)
        w = int(w)
        col = np.full(len(g), np.nan)
        for t in range(w - 1, len(g)):
            win = slice(t - w + 1, t + 1)
            if kind == "ret" and t >= w:
                col[t] = logc[t] - logc[t - w]
            elif kind == "vol":
                col[t] = np.std(r1[win], ddof=1)
            elif kind == "ma_dist":
                col[t] = c[t] / c[win].mean() - 1
            elif kind == "range_pos":
                col[t] = (c[t] - lo[win].min()) / (h[win].max() - lo[win].min())
            elif kind == "since_high":
                col[t] = (w - 1 - np.flatnonzero(h[win] == h[win].max())[-1]) / w
            elif kind == "qtl_up":
                col[t] = np.quantile(c[win], 0.8) / c[t] - 1
            elif kind == "slope":
                col[t] = np.polyfit(np.arange(w), logc[win], 1)[0]
            elif kind == "rsq":
                col[t] = np.corrcoef(np.arange(w), logc[win])[0, 1] ** 2
            elif kind == "resid":
                slope, icpt = np.polyfit(np.arange(w), logc[win], 1)
                col[t] = logc[t] - (icpt + slope * (w - 1))
            elif kind == "rsi":
                col[t] = np.clip(r1[win], 0, None).sum() / np.abs(r1[win]).sum()
            elif kind == "up_frac":
                col[t] = np.mean(r1[win] > 0) if not np.isnan(r1[win]).any() else np.nan
            elif kind == "volume_std":
                col[t] = np.std(v[win], ddof=1) / v[win].mean()
            elif kind == "corr_pv":
                col[t] = np.corrcoef(c[win], np.log1p(v[win]))[0, 1]
        out.append(col)
    return np.concatenate(out)


CHECKED = [
    "ret_5",
    "vol_5",
    "ma_dist_3",
    "range_pos_5",
    "since_high_5",
    "qtl_up_5",
    "slope_5",
    "rsq_5",
    "resid_5",
    "rsi_5",
    "up_frac_3",
    "volume_std_5",
    "corr_pv_5",
]


def test_windowed_features_match_a_per_window_reference() -> None:
    panel = make_panel(3, tickers=3, n_days=40)
    features = make_features(panel, small_features())
    for name in CHECKED:
        np.testing.assert_allclose(
            features[name].to_numpy(dtype="float64"),
            reference(panel, name),
            rtol=2e-5,
            atol=1e-6,
            equal_nan=True,
            err_msg=name,
        )


def test_candle_features_on_a_hand_computed_bar() -> None:
    panel = tidy(
        pd.DataFrame(
            {
                "ticker": ["X", "X"],
                "timestamp": pd.to_datetime(["2024-01-02", "2024-01-03"], utc=True),
                "open": [9.0, 10.0],
                "high": [10.0, 13.0],
                "low": [8.0, 9.0],
                "close": [10.0, 12.0],
                "adj_close": [10.0, 12.0],
                "volume": [100.0, 200.0],
            }
        )
    )
    row = make_features(panel, small_features()).iloc[1]
    # open 10, high 13, low 9, close 12; previous close 10
    assert row["body"] == pytest.approx(0.2)
    assert row["candle_range"] == pytest.approx(0.4)
    assert row["body_frac"] == pytest.approx(0.5)
    assert row["upper_wick"] == pytest.approx(0.1)
    assert row["upper_frac"] == pytest.approx(0.25)
    assert row["lower_wick"] == pytest.approx(0.1)
    assert row["lower_frac"] == pytest.approx(0.25)
    assert row["shift"] == pytest.approx(0.2)
    assert row["shift_frac"] == pytest.approx(0.5)
    assert row["gap"] == pytest.approx(0.0)
    assert row["ret_1"] == pytest.approx(np.log(1.2))


def test_a_tickers_features_do_not_depend_on_the_other_tickers_bit_for_bit() -> None:
    panel = make_panel(11, tickers=3, n_days=50)
    cfg = small_features(cross_sectional=())
    together = make_features(panel, cfg)
    for ticker, rows in panel.groupby("ticker"):
        alone = make_features(rows.reset_index(drop=True), cfg)
        mine = together[together["ticker"] == ticker].reset_index(drop=True)
        pd.testing.assert_frame_equal(alone, mine, check_exact=True)


@pytest.mark.parametrize("threads", [2, 3, 7])
def test_features_on_threads_equal_one_thread_bit_for_bit(monkeypatch, threads: int) -> None:
    monkeypatch.setattr(features_module, "THREAD_ROWS", 10)  # split even this small panel
    panel = make_panel(12, tickers=5, n_days=120)
    t1 = (panel["ticker"] == "T1").to_numpy()
    panel["segment"] = np.where(t1 & (np.cumsum(t1) > 70), 1, 0)  # a gap split in one ticker
    cfg = load_params("params.yaml").features  # every family, the ranks, the calendar
    for intraday in (False, True):
        one = make_features(panel, cfg, intraday)
        many = make_features(panel, cfg, intraday, threads=threads)
        bits = [f[feature_names(f)].to_numpy().view(np.uint32) for f in (one, many)]
        assert np.array_equal(*bits)
        pd.testing.assert_frame_equal(one, many, check_exact=True)


def test_ticker_spans_cut_whole_tickers_into_parts_of_about_equal_rows() -> None:
    ticker = pd.Series(np.repeat(["A", "B", "C", "D", "E"], [10, 30, 20, 20, 20]), dtype="str")
    spans = ticker_spans(ticker, 2)
    assert spans == [slice(0, 40), slice(40, 100)]  # the start nearest row 50 is row 40
    for parts in (1, 3, 5, 9):
        spans = ticker_spans(ticker, parts)
        assert len(spans) <= min(parts, 5) and spans[0].start == 0 and spans[-1].stop == 100
        assert all(a.stop == b.start for a, b in itertools.pairwise(spans))
        assert all(s.start == 0 or ticker[s.start] != ticker[s.start - 1] for s in spans)
    assert ticker_spans(ticker.iloc[::-1].reset_index(drop=True), 2) == [slice(0, 100)]  # unsorted
    assert ticker_spans(ticker[:0], 4) == [slice(0, 0)]


def test_a_segment_is_computed_as_a_ticker_of_its_own_bit_for_bit() -> None:
    """After a long gap (validate's `segment` column) every window and lag restarts: the bars
    of each segment give what they would give alone, whatever the other segment holds."""
    panel = make_panel(12, tickers=2, n_days=60)
    t0 = (panel["ticker"] == "T0").to_numpy()
    panel["segment"] = np.where(t0 & (np.cumsum(t0) > 25), 1, 0)
    cfg = small_features(cross_sectional=())
    together = make_features(panel, cfg)
    for (_, _), rows in panel.groupby(["ticker", "segment"]):
        alone = make_features(rows.drop(columns="segment").reset_index(drop=True), cfg)
        mine = together.loc[rows.index].reset_index(drop=True)
        pd.testing.assert_frame_equal(alone, mine, check_exact=True)
    # Not vacuous: the first bar of segment 1 has no return, gap or window yet.
    first = together.loc[int(np.flatnonzero(panel["segment"].to_numpy() == 1)[0])]
    assert first[["ret_1", "gap", "vol_3", "slope_3", "since_high_3"]].isna().all()


def test_volume_false_leaves_out_every_feature_that_reads_volume() -> None:
    params = load_params("params.yaml")
    panel = make_panel(5, tickers=3, n_days=80)
    full = make_features(panel, params.features)
    off = volume_names(params.features)
    kept = [n for n in feature_names(full) if n not in off]
    quiet = make_features(panel, params.features, volume=False)
    assert feature_names(quiet) == kept == planned_names(params.features, volume=False)
    pd.testing.assert_frame_equal(quiet, full[["ticker", "timestamp", *kept]])
    assert len(off & set(feature_names(full))) == 27  # 20 volume, 6 corr, 1 cs_rank
    assert all(n.removeprefix("cs_rank_").startswith(("volume_", "wvma_", "corr_")) for n in off)
    qlib = dataclasses.replace(params.features, preset="qlib14")
    without = [n for n in QLIB14 if n not in ("volume_level_5", "corr_pv_20")]
    assert feature_names(make_features(panel, qlib, volume=False)) == without
    assert planned_names(qlib, volume=False) == without
    # Asked for by name, a volume feature is left out too, and the rest still computed.
    only = make_features(panel, params.features, only=["ret_1", "wvma_5"], volume=False)
    assert feature_names(only) == ["ret_1"]


def test_default_params_give_over_100_features_on_several_tickers() -> None:
    params = load_params("params.yaml")
    panel = make_panel(5, tickers=3, n_days=120)
    features = make_features(panel, params.features)
    names = feature_names(features)
    assert len(names) > 100
    assert names == planned_names(params.features)
    assert len(set(names)) == len(names)
    assert {"ret_1", "cs_rank_ret_1", "day_of_week"} <= set(names)
    assert all(features[n].dtype == np.float32 for n in names)
    tail = features.groupby("ticker").tail(5)[names]  # long windows are full by then
    assert tail.notna().mean().min() > 0.5


def test_qlib14_preset_is_the_14_named_features_equal_to_the_full_set() -> None:
    params = load_params("params.yaml")
    panel = make_panel(5, tickers=2, n_days=80)
    full = make_features(panel, params.features)
    subset = make_features(panel, dataclasses.replace(params.features, preset="qlib14"))
    assert feature_names(subset) == list(QLIB14) and len(QLIB14) == 14
    pd.testing.assert_frame_equal(subset, full[["ticker", "timestamp", *QLIB14]])
    assert planned_names(dataclasses.replace(params.features, preset="qlib14")) == list(QLIB14)


def test_only_computes_the_named_features() -> None:
    panel = make_panel(1, tickers=2, n_days=30)
    out = make_features(panel, small_features(), only=["vol_3", "cs_rank_ret_1"])
    assert feature_names(out) == ["vol_3", "cs_rank_ret_1"]
    with pytest.raises(UpdownError, match="nope"):
        make_features(panel, small_features(), only=["nope"])


def test_an_empty_window_list_switches_a_family_off() -> None:
    panel = make_panel(1, tickers=2, n_days=30)
    cfg = small_features(
        trend_windows=(), quantile_windows=(), candle=False, calendar=False, cross_sectional=()
    )
    names = feature_names(make_features(panel, cfg))
    for gone in ("slope_", "rsq_", "qtl_", "body", "gap", "day_of_week", "cs_rank_"):
        assert not any(n.startswith(gone) for n in names), gone
    assert "ret_1" in names and "vol_5" in names


def test_an_unknown_cross_sectional_feature_is_named() -> None:
    panel = make_panel(1, tickers=2, n_days=30)
    with pytest.raises(UpdownError, match=r"features\.cross_sectional.*ret_99"):
        make_features(panel, small_features(cross_sectional=("ret_99",)))


def test_cross_sectional_ranks_are_percentiles_among_tickers_at_the_same_bar() -> None:
    ts = pd.to_datetime(["2024-01-02", "2024-01-03", "2024-01-04"], utc=True).as_unit("us")
    closes = {"A": [10, 11, 12.1], "B": [10, 9, 9.9], "C": [10, 10.5, 10.5]}
    panel = tidy(
        pd.DataFrame(
            [
                {"ticker": t, "timestamp": ts[i], "open": c, "high": c, "low": c, "close": c}
                | {"adj_close": c, "volume": 1.0}
                for t, cs in closes.items()
                for i, c in enumerate(cs)
            ]
        )
    )
    out = make_features(panel, small_features(cross_sectional=("ret_1",)), only=["cs_rank_ret_1"])
    ranks = out.pivot(index="timestamp", columns="ticker", values="cs_rank_ret_1")
    # bar 1: returns A +10%, B -10%, C +5%; bar 2: A +10%, B +10%, C 0 (A and B tie)
    assert ranks.iloc[0].isna().all()  # no return yet on the first bar
    np.testing.assert_allclose(ranks.iloc[1][["A", "B", "C"]], [1.0, 1 / 3, 2 / 3], rtol=1e-6)
    np.testing.assert_allclose(ranks.iloc[2][["A", "B", "C"]], [2.5 / 3, 2.5 / 3, 1 / 3], rtol=1e-6)


def test_calendar_uses_the_exchange_clock() -> None:
    # 2021-03-01 02:00 UTC is Sunday 21:00 in New York and Monday in UTC.
    panel = tidy(
        pd.DataFrame(
            {
                "ticker": ["X"],
                "timestamp": pd.to_datetime(["2021-03-01 02:00"], utc=True).as_unit("us"),
                "open": [1.0],
                "high": [1.0],
                "low": [1.0],
                "close": [1.0],
                "adj_close": [1.0],
                "volume": [1.0],
            }
        )
    )
    ny = make_features(panel, small_features(), intraday=True).iloc[0]
    utc = make_features(panel, small_features(calendar_timezone="UTC"), intraday=True).iloc[0]
    assert (ny["day_of_week"], ny["month"], ny["hour"]) == (6, 2, 21)
    assert (utc["day_of_week"], utc["month"], utc["hour"]) == (0, 3, 2)
    daily = make_features(panel, small_features())
    assert "hour" not in daily.columns


def test_features_do_not_see_the_price_level_of_back_adjusted_data() -> None:
    # A later dividend or split rescales all earlier adjusted prices by one factor.
    panel = make_panel(9, tickers=2, n_days=60)
    scaled = panel.assign(
        **{c: panel[c] * 7.3 for c in ("open", "high", "low", "close", "adj_close")}
    )
    a = make_features(panel, small_features())
    b = make_features(scaled, small_features())
    for name in feature_names(a):
        np.testing.assert_allclose(a[name], b[name], rtol=1e-4, atol=1e-6, err_msg=name)


def test_volume_is_split_adjusted_with_the_prices() -> None:
    # A 2:1 split on day 3: raw close halves and raw volume doubles; adjusted, nothing moved.
    n = 6
    close = np.array([100.0, 100, 100, 50, 50, 50])
    panel = tidy(
        pd.DataFrame(
            {
                "ticker": "X",
                "timestamp": pd.date_range("2024-01-01", periods=n, tz="UTC").as_unit("us"),
                "open": close,
                "high": close,
                "low": close,
                "close": close,
                "adj_close": np.full(n, 50.0),
                "volume": np.array([1e6, 1e6, 1e6, 2e6, 2e6, 2e6]),
            }
        )
    )
    out = make_features(panel, small_features(), only=["volume_chg_3", "ret_1"])
    np.testing.assert_allclose(out["volume_chg_3"].iloc[3:], 0.0, atol=1e-6)
    np.testing.assert_allclose(out["ret_1"].iloc[1:], 0.0)


def test_undefined_ratios_are_nan_not_infinite() -> None:
    panel = make_panel(2, tickers=1, n_days=30)
    cols = ("open", "high", "low", "close", "adj_close", "volume")
    flat = panel.assign(**{c: 5.0 for c in cols})  # a market that never moves
    out = make_features(flat, small_features())
    values = out[feature_names(out)].to_numpy(dtype="float64")
    assert not np.isinf(values).any()
    for name in ("body_frac", "range_pos_3", "rsi_3", "corr_pv_3", "rsq_3", "volume_up_3"):
        assert out[name].isna().all(), name
    assert (out["vol_3"].dropna() == 0).all() and out["vol_3"].notna().any()


def test_an_unsorted_panel_is_refused() -> None:
    panel = make_panel(2, tickers=2, n_days=10)
    with pytest.raises(ValueError, match="sorted"):
        make_features(panel.iloc[::-1].reset_index(drop=True), small_features())


def test_an_unknown_calendar_time_zone_is_named() -> None:
    raw = load_params("params.yaml").raw
    bad = {**raw, "features": {**raw["features"], "calendar_timezone": "Mars/Olympus"}}
    with pytest.raises(UpdownError, match=r"features\.calendar_timezone.*Mars/Olympus"):
        build_params(bad)


def _since_extreme_by_scan(x: np.ndarray, w: int, how: str) -> np.ndarray:
    """Rows back to the most recent max (min) of each full window, one window at a time."""
    out = np.full(len(x), np.nan)
    for t in range(w - 1, len(x)):
        win = x[t - w + 1 : t + 1][::-1]
        out[t] = np.argmax(win) if how == "max" else np.argmin(win)
    return out


@pytest.mark.parametrize("window", [1, 2, 3, 5, 7, 20, 33, 60])
@pytest.mark.parametrize("how", ["max", "min"])
@pytest.mark.parametrize("with_nan", [False, True])
def test_bars_since_extreme_equals_a_scan_of_every_window_ties_to_the_latest(
    window: int, how: str, with_nan: bool
) -> None:
    from updown.panel import bars_since_extreme, position_in_ticker

    rng = np.random.default_rng(window)
    ticker = pd.Series(np.repeat(["A", "B", "C"], [150, 90, 160]))
    pos = position_in_ticker(ticker)
    x = rng.integers(0, 6, len(ticker)).astype(float)  # few levels: many ties
    if with_nan:
        x[rng.random(len(x)) < 0.02] = np.nan
    got = bars_since_extreme(pd.Series(x), window, pos, how).to_numpy()
    want = np.full(len(x), np.nan)
    for start in np.flatnonzero(pos == 0):
        rows = slice(start, start + int(np.sum(ticker.to_numpy() == ticker[start])))
        want[rows] = _since_extreme_by_scan(x[rows], window, how)
    np.testing.assert_array_equal(got, want)


def test_cross_sectional_ranks_equal_pandas_group_rank_bit_for_bit() -> None:
    from updown.learn.features import cross_sectional_ranks

    rng = np.random.default_rng(3)
    n = 5000
    timestamp = pd.Series(pd.to_datetime(rng.integers(0, 40, n), unit="D", utc=True))
    frame = pd.DataFrame(
        {
            "ties32": rng.integers(-3, 4, n).astype(np.float32),
            "float32": rng.normal(size=n).astype(np.float32),
            "float64": rng.normal(size=n),
        }
    )
    frame.loc[rng.random(n) < 0.1, :] = np.nan
    frame.loc[:9, "ties32"] = np.float32(-0.0)  # -0.0 ties with 0.0
    got = cross_sectional_ranks(timestamp, frame)
    want = frame.groupby(pd.factorize(timestamp)[0]).rank(pct=True)
    pd.testing.assert_frame_equal(got, want, check_exact=True)
