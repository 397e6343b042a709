"""Forward returns from the point where a signal can actually be traded.

A signal computed from bar t is known at the close of t. Where a position can be entered is a
choice (`label.entry`, `evaluate.backtest.execution`):

- `close`: at the close of bar t itself (only if the order can be sent before the close: the
  classic close-to-close label, optimistic for daily bars);
- `next_open`: at the open of bar t+1, the first price after the signal is known;
- `next_close`: at the close of bar t+1.

The position is held `horizon` bars and left at the same point of the bar it exits: the return
runs from entry bar e to exit bar e + horizon. The label, the signal sheet and the backtest all
read this one definition, so the model is trained and scored on the return it could earn.
Prices are split- and dividend-adjusted (`updown.panel.adjusted_ohlc`); nothing spans a gap
segment or a ticker's end (NaN, NaT there).
"""

from __future__ import annotations

from typing import Literal, get_args

import numpy as np
import pandas as pd

from updown.errors import UpdownError
from updown.panel import adjusted_ohlc, lead, rows_left_in_ticker

Entry = Literal["close", "next_open", "next_close"]
ENTRIES: tuple[Entry, ...] = get_args(Entry)
#: The backtest's `execution` (trade at the open or close of the bar after the signal) as an entry.
ENTRY_OF_EXECUTION: dict[str, Entry] = {"open": "next_open", "close": "next_close"}


def resolve_entry(entry: str, execution: str) -> Entry:
    """`label.entry` as a point of the bar: `auto` is where the backtest enters
    (`evaluate.backtest.execution`), so the label and the backtest measure one return."""
    if entry == "auto":
        return ENTRY_OF_EXECUTION[execution]
    if entry not in ENTRIES:
        raise UpdownError(f"label.entry: {entry!r} is not auto or one of {', '.join(ENTRIES)}")
    return entry  # type: ignore[return-value]


def entry_offset(entry: str) -> int:
    """Bars between the signal's bar and the entry bar: 0 for `close`, 1 otherwise."""
    if entry not in ENTRIES:
        raise UpdownError(f"entry {entry!r} is not one of {', '.join(ENTRIES)}")
    return 0 if entry == "close" else 1


def _entry_price(panel: pd.DataFrame, entry: str) -> pd.Series:
    bars = adjusted_ohlc(panel)
    return bars["open"] if entry == "next_open" else bars["close"]


def forward_returns(panel: pd.DataFrame, entry: str, horizon: int) -> tuple[pd.Series, pd.Series]:
    """For each row t of `panel` (sorted by ticker, timestamp; gap segments respected): the log
    return of entering at `entry` and exiting `horizon` bars later at the same point of the bar,
    and the timestamp of the exit bar (the last bar the return looks at). NaN / NaT where the
    exit bar is past the ticker's (or segment's) last bar."""
    if horizon < 1:
        raise UpdownError(f"horizon: {horizon} bars; a forward return needs at least 1")
    start = entry_offset(entry)
    left = rows_left_in_ticker(panel)
    price = _entry_price(panel, entry)
    with np.errstate(divide="ignore", invalid="ignore"):
        log_return = np.log(lead(price, start + horizon, left) / lead(price, start, left))
    end = panel["timestamp"].shift(-(start + horizon)).where(left >= start + horizon)
    return log_return, end


def forward_simple_returns(panel: pd.DataFrame, entry: str, horizon: int) -> pd.Series:
    """`forward_returns` as simple returns (exp(r) - 1): what a portfolio weight earns."""
    log_return, _ = forward_returns(panel, entry, horizon)
    return np.expm1(log_return)
