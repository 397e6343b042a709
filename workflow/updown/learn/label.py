"""Labels: what happens after bar t. Every row keeps the end time of the window it looked at.

Output (one row per labelled bar): ticker, timestamp, label, forward_return, label_end, and for
triple_barrier also `touch`. `label_end` is the timestamp of the last bar whose data the label
used; nothing after it can change the label, which is what purging in updown.learn.split relies on.

Every label starts where a position can be entered (`label.entry`, `updown.returns`): at the
close of bar t, or at the open or close of bar t+1 (the default follows the backtest's
execution, so label and backtest measure one return), and ends `horizon` bars after the entry at
the same point of the bar. `forward_return` is always the plain log return of the ticker over
that window (what holding it earned), from `updown.returns.forward_returns`.

- direction: label 1 (up) if the forward log return over `horizon` bars is above `threshold`,
  0 (down) if below -threshold (or not above 0 when threshold is 0). Bars in the dead zone
  |r| <= threshold are dropped, or kept as a third class, label 2 (`dead_zone: keep`).
- return: label = the forward log return (float), for regression.
- direction and return with `excess`: the forward return minus its mean over the tickers
  labelled at the same bar; bars with fewer than two such tickers are dropped, and label_end is
  the latest window end among them (the mean looked at all of them).
- triple_barrier: from the entry price, an upper barrier at +profit_take and a lower one at
  -stop_loss (in log return, times volatility x sqrt(horizon)), and a vertical one `horizon` bars
  on. Only the path after the entry counts. Label 1 if the upper barrier is touched first (by a
  bar's high, or an open that gaps through it), 0 if the lower one is (by a low); if a bar's
  range reaches both, an open that gapped through one decides, else the stop is assumed first
  (the cautious reading, as the path inside the bar is unknown). Untouched until the vertical
  barrier: 1 if the return there is above 0, else 0. `touch` says which barrier (take, stop,
  vertical); the position is left at the first entry point (open or close) at or after the
  touch, and label_end is that bar.

Volatility (`threshold_unit: volatility`, triple_barrier) is the standard deviation of one-bar
log returns over the `vol_window` bars ending at t: known at t, no look-ahead in the scale.
A bar is labelled only when its whole window (entry plus `horizon` bars) exists, even when a
barrier is touched earlier, so which bars get a label never depends on what the price did. A
gap longer than validate.max_gap_days ends a ticker's segment (the panel's `segment` column, see
updown.panel) as its last bar ends the ticker: no label, forward return or volatility reaches
across it.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd

from updown.config import LabelConfig, Params
from updown.errors import UpdownError
from updown.panel import adjusted_ohlc, check_sorted, lead, position_in_ticker, rolling
from updown.panel import rows_left_in_ticker as _rows_left
from updown.returns import entry_offset, forward_returns, resolve_entry

DIRECTION_CLASSES = {"down": 0, "up": 1, "flat": 2}
TOUCHES = ("take", "stop", "vertical")


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


def forward_part(panel: pd.DataFrame, cfg: LabelConfig) -> pd.DataFrame:
    """What a direction or return label needs of each row's own ticker: the forward log return
    (forward_return), its window end (label_end) and, for a threshold in volatility units, the
    trailing volatility (sigma). Each ticker's rows depend on that ticker alone, so a sharded
    label job computes this part and the gather finishes it (labels_from_part)."""
    raw, end = forward_returns(panel, cfg.entry, cfg.horizon)
    part = pd.DataFrame(
        {
            "ticker": panel["ticker"],
            "timestamp": panel["timestamp"],
            "forward_return": raw,
            "label_end": end,
        }
    )
    if cfg.kind == "direction" and cfg.threshold > 0 and cfg.threshold_unit == "volatility":
        part["sigma"] = trailing_volatility(panel, cfg.vol_window)
    return part


def direction_labels(panel: pd.DataFrame, cfg: LabelConfig) -> pd.DataFrame:
    """1 up / 0 down over `horizon` bars, with an optional dead zone (dropped, or class 2).

    Rows whose horizon runs past the end of the data are dropped. Shape: one row per labelled
    (ticker, timestamp).
    """
    check_sorted(panel)
    _need_several_tickers(panel, cfg)
    return _direction_from(forward_part(panel, cfg), cfg)


def _direction_from(part: pd.DataFrame, cfg: LabelConfig) -> pd.DataFrame:
    raw, end = part["forward_return"], part["label_end"]
    fwd = raw
    if cfg.excess:
        fwd, end = _excess(raw, end, part["timestamp"])
    keep = fwd.notna()
    if cfg.threshold > 0:
        width = pd.Series(cfg.threshold, index=part.index, dtype="float64")
        if cfg.threshold_unit == "volatility":
            sigma = part["sigma"]
            width = cfg.threshold * sigma * np.sqrt(cfg.horizon)
            keep &= sigma > 0
        up, down = fwd > width, fwd < -width
        label = np.where(up, 1, np.where(down, 0, DIRECTION_CLASSES["flat"]))
        if cfg.dead_zone == "drop":
            keep &= up | down
    else:
        label = np.where(fwd > 0, 1, 0)
    out = _frame(part, pd.Series(label, index=part.index, dtype="int8"), raw, end)
    return out.loc[keep].reset_index(drop=True)


def return_labels(panel: pd.DataFrame, cfg: LabelConfig) -> pd.DataFrame:
    """The forward log return over `horizon` bars (minus the cross-ticker mean with `excess`)."""
    check_sorted(panel)
    _need_several_tickers(panel, cfg)
    return _return_from(forward_part(panel, cfg), cfg)


def _return_from(part: pd.DataFrame, cfg: LabelConfig) -> pd.DataFrame:
    raw, end = part["forward_return"], part["label_end"]
    label = raw
    if cfg.excess:
        label, end = _excess(raw, end, part["timestamp"])
    out = _frame(part, label.astype("float64"), raw, end)
    return out.loc[label.notna()].reset_index(drop=True)


def labels_from_part(part: pd.DataFrame, cfg: LabelConfig) -> pd.DataFrame:
    """The direction or return labels of every ticker in `part` (forward_part of the whole
    panel, or its shards in panel order), with make_labels' attrs: the cross-sectional step
    (label.excess) runs here, over every ticker at once."""
    _need_several_tickers(part, cfg)
    finish = _direction_from if cfg.kind == "direction" else _return_from
    labels = finish(part, cfg)
    labels.attrs = label_attrs(cfg)
    return labels


def _barrier_path(
    bars: pd.DataFrame, left: np.ndarray, entry: str, k: int
) -> tuple[np.ndarray, ...]:
    """Step k (1..horizon) of the path after the entry, as log prices in time order: an open
    first (a gap, at the start of the step), the bar's high and low, and an open last (the
    next entry point, for a `next_open` entry whose steps run open to open). NaN where absent."""
    nan = np.full(len(bars), np.nan)
    if entry == "next_open":  # step k: bar t+k from its open (the entry, or the last step's end)
        hi, lo = lead(bars["high"], k, left), lead(bars["low"], k, left)
        return (
            nan,
            np.log(hi.to_numpy()),
            np.log(lo.to_numpy()),
            np.log(lead(bars["open"], k + 1, left).to_numpy()),
        )
    j = k + entry_offset(entry)  # close to close: bar t+j, its open first
    op, hi, lo = (lead(bars[c], j, left).to_numpy() for c in ("open", "high", "low"))
    return np.log(op), np.log(hi), np.log(lo), nan


def triple_barrier_labels(panel: pd.DataFrame, cfg: LabelConfig) -> pd.DataFrame:
    """Which of the profit-take, stop-loss and vertical barriers each bar's path touches first,
    from the entry price (`cfg.entry`) on.

    A loop over the `horizon` steps ahead (never over rows): step k marks, for every row at
    once, whether its k-th step after the entry touched a barrier, and keeps the first hit.
    """
    check_sorted(panel)
    bars = adjusted_ohlc(panel)
    left = _rows_left(panel)
    n, h, s = len(panel), cfg.horizon, entry_offset(cfg.entry)
    price = (bars["open"] if cfg.entry == "next_open" else bars["close"]).to_numpy()
    with np.errstate(invalid="ignore", divide="ignore"):
        base = np.log(lead(pd.Series(price), s, left).to_numpy())
    unit = trailing_volatility(panel, cfg.vol_window).to_numpy() * np.sqrt(h)
    upper, lower = cfg.profit_take * unit, -cfg.stop_loss * unit
    first = np.zeros(n, dtype=np.int64)  # steps after the entry to the first touch; 0 = none
    take = np.zeros(n, dtype=bool)
    with np.errstate(invalid="ignore", divide="ignore"):
        for k in range(1, h + 1):
            gap, hi, lo, end = (x - base for x in _barrier_path(bars, left, cfg.entry, k))
            # In time order: an open gapping through a barrier settles it; then the range
            # (both in one bar: the stop is assumed first); then a closing open's gap.
            gap_up, gap_down = gap >= upper, gap <= lower
            hit_up, hit_down = hi >= upper, lo <= lower
            end_up, end_down = end >= upper, end <= lower
            up_first = gap_up | (~gap_down & hit_up & ~hit_down)
            up_first |= ~(gap_up | gap_down | hit_up | hit_down) & end_up
            hit = gap_up | gap_down | hit_up | hit_down | end_up | end_down
            new = (left >= s + k) & (first == 0) & hit
            first[new] = k
            take[new] = up_first[new]
    keep = (left >= s + h) & np.isfinite(unit) & (unit > 0)
    # The exit: the entry point of the step that touched (t + s + first), or of the vertical
    # barrier (t + s + h).
    idx = np.arange(n) + np.where(keep, s + np.where(first > 0, first, h), 0)
    fwd = np.where(keep, np.log(price[idx]) - base, np.nan)
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


def resolved(params: Params) -> LabelConfig:
    """The label settings with `entry: auto` resolved to the backtest's execution point."""
    entry = resolve_entry(params.label.entry, params.evaluate.backtest.execution)
    return dataclasses.replace(params.label, entry=entry)


def label_attrs(cfg: LabelConfig) -> dict[str, str]:
    """What make_labels records in attrs: label_kind, horizon, entry and, for direction and
    triple_barrier, the number of classes (2, or 3 with a kept dead zone: 0 down, 1 up, 2 flat);
    for return, whether it is an excess return."""
    attrs = {"label_kind": cfg.kind, "horizon": str(cfg.horizon), "entry": cfg.entry}
    if cfg.kind == "direction":
        three = cfg.threshold > 0 and cfg.dead_zone == "keep"
        attrs["num_classes"] = "3" if three else "2"
    elif cfg.kind == "return":
        attrs["excess"] = str(cfg.excess).lower()
    elif cfg.kind == "triple_barrier":
        attrs["num_classes"] = "2"
    else:
        raise UpdownError(f"label.kind: unknown kind {cfg.kind!r}")
    return attrs


def make_labels(panel: pd.DataFrame, cfg: LabelConfig) -> pd.DataFrame:
    """Labels of kind `cfg.kind`, with label_attrs(cfg) as attrs."""
    attrs = label_attrs(cfg)
    if cfg.kind == "direction":
        labels = direction_labels(panel, cfg)
    elif cfg.kind == "return":
        labels = return_labels(panel, cfg)
    else:
        labels = triple_barrier_labels(panel, cfg)
    labels.attrs = attrs
    return labels
