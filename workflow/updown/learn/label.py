"""Labels: what happens after bar t. Every row keeps the end time of the window it looked at.

Output (one row per labelled bar): ticker, timestamp, label, forward_return, label_end, and for
triple_barrier also `touch`. `label_end` is the timestamp of the last bar whose data the label
used; nothing after it can change the label, which is what purging in updown.learn.split relies on.
`forward_return` is always the plain log return of the ticker from the close of bar t to the close
of bar label_end (what holding over the label window earned).

- direction: label 1 (up) if the forward log return over `horizon` bars is above `threshold`,
  0 (down) if below -threshold (or not above 0 when threshold is 0). Bars in the dead zone
  |r| <= threshold are dropped, or kept as a third class, label 2 (`dead_zone: keep`).
- return: label = the forward log return (float), for regression.
- direction and return with `excess`: the forward return minus its mean over the tickers
  labelled at the same bar; bars with fewer than two such tickers are dropped, and label_end is
  the latest window end among them (the mean looked at all of them).
- triple_barrier: from the close of bar t, an upper barrier at +profit_take and a lower one at
  -stop_loss (in log return, times volatility x sqrt(horizon)), and a vertical one `horizon` bars
  on. Label 1 if the upper barrier is touched first (by a bar's high), 0 if the lower one is (by
  a low); if a bar reaches both, its open decides when it gapped through one, else the stop is
  assumed first (the cautious reading, as the path inside the bar is unknown). Untouched until
  the vertical barrier: 1 if the return there is above 0, else 0. `touch` says which barrier
  (take, stop, vertical) and label_end is the bar that touched it.

Volatility (`threshold_unit: volatility`, triple_barrier) is the standard deviation of one-bar
log returns over the `vol_window` bars ending at t: known at t, no look-ahead in the scale.
A bar is labelled only when all `horizon` bars after it exist, even when a barrier is touched
earlier, so which bars get a label never depends on what the price did. A gap longer than
validate.max_gap_days ends a ticker's segment (the panel's `segment` column, see updown.panel) as
its last bar ends the ticker: no label, forward return or volatility reaches across it.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from updown.config import LabelConfig
from updown.errors import UpdownError
from updown.panel import adjusted_ohlc, check_sorted, lead, position_in_ticker, rolling
from updown.panel import rows_left_in_ticker as _rows_left

DIRECTION_CLASSES = {"down": 0, "up": 1, "flat": 2}
TOUCHES = ("take", "stop", "vertical")


def forward_log_return(panel: pd.DataFrame, horizon: int) -> tuple[pd.Series, pd.Series]:
    """log(close[t + horizon] / close[t]) per ticker, and the timestamp of bar t + horizon;
    both NaN / NaT where the ticker's data (or segment) ends before t + horizon."""
    left = _rows_left(panel)
    close = adjusted_ohlc(panel)["close"]
    fwd = np.log(lead(close, horizon, left) / close)
    end = panel["timestamp"].shift(-horizon).where(left >= horizon)
    return fwd, end


def trailing_volatility(panel: pd.DataFrame, window: int) -> pd.Series:
    """Standard deviation of one-bar log returns over the `window` bars ending at t, per ticker
    (NaN until the ticker has window + 1 closes)."""
    close = adjusted_ohlc(panel)["close"]
    pos = position_in_ticker(panel)
    logc = np.log(close)
    r1 = (logc - logc.shift(1)).where(pos >= 1)
    return rolling(r1, window, pos, "std")


def _excess(fwd: pd.Series, end: pd.Series, timestamp: pd.Series) -> tuple[pd.Series, pd.Series]:
    """fwd minus its mean across tickers at the same timestamp, and the latest window end among
    them; NaN where fewer than two tickers have a forward return at that timestamp."""
    by_bar = fwd.groupby(timestamp)
    count = by_bar.transform("count")
    excess = (fwd - by_bar.transform("mean")).where(count >= 2)
    latest = end.where(fwd.notna()).groupby(timestamp).transform("max")
    return excess, latest.where(excess.notna())


def _frame(panel: pd.DataFrame, label: pd.Series, fwd: pd.Series, end: pd.Series) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "ticker": panel["ticker"],
            "timestamp": panel["timestamp"],
            "label": label,
            "forward_return": fwd,
            "label_end": end,
        }
    )


def _need_several_tickers(panel: pd.DataFrame, cfg: LabelConfig) -> None:
    if cfg.excess and panel["ticker"].nunique() < 2:
        raise UpdownError(
            "label.excess: the excess return is measured against the other tickers at the same "
            f"bar, and the panel holds {panel['ticker'].nunique()} ticker(s)"
        )


def direction_labels(panel: pd.DataFrame, cfg: LabelConfig) -> pd.DataFrame:
    """1 up / 0 down over `horizon` bars, with an optional dead zone (dropped, or class 2).

    Rows whose horizon runs past the end of the data are dropped. Shape: one row per labelled
    (ticker, timestamp).
    """
    check_sorted(panel)
    _need_several_tickers(panel, cfg)
    raw, end = forward_log_return(panel, cfg.horizon)
    fwd = raw
    if cfg.excess:
        fwd, end = _excess(raw, end, panel["timestamp"])
    keep = fwd.notna()
    if cfg.threshold > 0:
        width = pd.Series(cfg.threshold, index=panel.index, dtype="float64")
        if cfg.threshold_unit == "volatility":
            sigma = trailing_volatility(panel, cfg.vol_window)
            width = cfg.threshold * sigma * np.sqrt(cfg.horizon)
            keep &= sigma > 0
        up, down = fwd > width, fwd < -width
        label = np.where(up, 1, np.where(down, 0, DIRECTION_CLASSES["flat"]))
        if cfg.dead_zone == "drop":
            keep &= up | down
    else:
        label = np.where(fwd > 0, 1, 0)
    out = _frame(panel, pd.Series(label, index=panel.index, dtype="int8"), raw, end)
    return out.loc[keep].reset_index(drop=True)


def return_labels(panel: pd.DataFrame, cfg: LabelConfig) -> pd.DataFrame:
    """The forward log return over `horizon` bars (minus the cross-ticker mean with `excess`)."""
    check_sorted(panel)
    _need_several_tickers(panel, cfg)
    raw, end = forward_log_return(panel, cfg.horizon)
    label = raw
    if cfg.excess:
        label, end = _excess(raw, end, panel["timestamp"])
    out = _frame(panel, label.astype("float64"), raw, end)
    return out.loc[label.notna()].reset_index(drop=True)


def triple_barrier_labels(panel: pd.DataFrame, cfg: LabelConfig) -> pd.DataFrame:
    """Which of the profit-take, stop-loss and vertical barriers each bar's path touches first.

    A loop over the `horizon` bars ahead (never over rows): step k marks, for every row at
    once, whether bar t + k touched a barrier, and keeps the first hit.
    """
    check_sorted(panel)
    bars = adjusted_ohlc(panel)
    left = _rows_left(panel)
    n, h = len(panel), cfg.horizon
    close = bars["close"].to_numpy()
    logc = np.log(close)
    unit = trailing_volatility(panel, cfg.vol_window).to_numpy() * np.sqrt(h)
    upper, lower = cfg.profit_take * unit, -cfg.stop_loss * unit
    first = np.zeros(n, dtype=np.int64)  # bars ahead of the first touch; 0 = none yet
    take = np.zeros(n, dtype=bool)
    with np.errstate(invalid="ignore", divide="ignore"):
        for k in range(1, h + 1):
            ahead = left >= k
            hi = np.log(lead(bars["high"], k, left).to_numpy()) - logc
            lo = np.log(lead(bars["low"], k, left).to_numpy()) - logc
            op = np.log(lead(bars["open"], k, left).to_numpy()) - logc
            hit_up, hit_down = hi >= upper, lo <= lower
            # Both in one bar: a gap through a barrier at the open settles it; else assume stop.
            up_first = hit_up & (~hit_down | (op >= upper))
            new = ahead & (first == 0) & (hit_up | hit_down)
            first[new] = k
            take[new] = up_first[new]
    keep = (left >= h) & np.isfinite(unit) & (unit > 0)
    # The row of the touch (t + first), or of the vertical barrier (t + h).
    idx = np.arange(n) + np.where(keep, np.where(first > 0, first, h), 0)
    fwd = np.log(close[idx] / close)
    touch = np.where(first == 0, "vertical", np.where(take, "take", "stop"))
    label = np.where(first == 0, fwd > 0, take).astype("int8")
    out = _frame(
        panel,
        pd.Series(label, index=panel.index),
        pd.Series(fwd, index=panel.index),
        panel["timestamp"].iloc[idx].reset_index(drop=True),
    )
    out["touch"] = pd.Series(touch, index=panel.index, dtype="str")
    return out.loc[keep].reset_index(drop=True)


def make_labels(panel: pd.DataFrame, cfg: LabelConfig) -> pd.DataFrame:
    """Labels of kind `cfg.kind`; attrs record label_kind, horizon and, for direction, the
    number of classes (2, or 3 with a kept dead zone: 0 down, 1 up, 2 flat)."""
    attrs = {"label_kind": cfg.kind, "horizon": str(cfg.horizon)}
    if cfg.kind == "direction":
        labels = direction_labels(panel, cfg)
        three = cfg.threshold > 0 and cfg.dead_zone == "keep"
        attrs["num_classes"] = "3" if three else "2"
    elif cfg.kind == "return":
        labels = return_labels(panel, cfg)
        attrs["excess"] = str(cfg.excess).lower()
    elif cfg.kind == "triple_barrier":
        labels = triple_barrier_labels(panel, cfg)
        attrs["num_classes"] = "2"
    else:
        raise UpdownError(f"label.kind: unknown kind {cfg.kind!r}")
    labels.attrs = attrs
    return labels
