"""A clock for the sources: only bars stamped at or before "now" are shown.

`updown acquire --end` takes a date, which means what `data.end` means (every bar of that day,
in the source's time zone), or a time (ISO 8601; UTC when it has no zone), which cuts the bars
at that instant. A daily bar is stamped at the start of its day and holds that day's close, so
a clock meant to show a day's close should be that day's date (or a time at or after its bar).
A replay steps such a clock over history: each step sees nothing after it.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from collections.abc import Callable
from typing import TYPE_CHECKING

import pandas as pd

from updown.errors import UpdownError

if TYPE_CHECKING:
    from updown.config import DataConfig

_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def parse_end(text: str) -> tuple[dt.date, pd.Timestamp | None]:
    """An --end value as (the data.end date to fetch through, the instant to cut at or None).

    A date is data.end itself. A time is fetched through the next UTC day (so that a source
    whose zone runs ahead of UTC still delivers that instant's bars) and then cut at it.
    """
    value = text.strip()
    try:
        if _DATE.fullmatch(value):
            return dt.date.fromisoformat(value), None
        ts = pd.Timestamp(value)
    except ValueError as exc:
        raise UpdownError(
            f"--end: {text!r} is not a date or time (e.g. 2018-06-29 or 2018-06-29T20:00Z)"
        ) from exc
    ts = ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")
    return (ts + pd.Timedelta(days=1)).date(), ts


def with_end(cfg: DataConfig, text: str | None) -> tuple[DataConfig, pd.Timestamp | None]:
    """`cfg` with data.end overridden by an --end value (None: unchanged), and the cut-off."""
    if text is None:
        return cfg, None
    end, until = parse_end(text)
    if end <= cfg.start:
        raise UpdownError(f"--end: {text} is not after data.start ({cfg.start})")
    return dataclasses.replace(cfg, end=end), until


def up_to(bars: pd.DataFrame, until: pd.Timestamp | None) -> pd.DataFrame:
    """The bars stamped at or before `until` (all of them when None), `attrs` kept.

    Timestamps a source could not parse are left as they are, for validate to name. A replay
    reads its source once and cuts it with this at every step: reading the 404 files of the
    S&P folder takes seconds, cutting them a fraction of one.
    """
    ts = bars.get("timestamp")
    if until is None or ts is None or not isinstance(ts.dtype, pd.DatetimeTZDtype):
        return bars
    if ts.is_monotonic_increasing:  # the usual case: a prefix, found by bisection
        # in the column's unit, rounded down: a bar at or before `until` is at or before that
        unit = ts.dt.unit
        at = until.floor(pd.Timedelta(1, unit)).as_unit(unit)
        out = bars.iloc[: int(ts.searchsorted(at, side="right"))]
    else:
        out = bars.loc[ts <= until].reset_index(drop=True)
    out.attrs = dict(bars.attrs)
    return out


def fetch_up_to(
    fetch: Callable[[list[str], DataConfig], dict[str, pd.DataFrame]],
    until: pd.Timestamp | None,
) -> Callable[[list[str], DataConfig], dict[str, pd.DataFrame]]:
    """`fetch` whose answers stop at `until`: a source as the clock lets it be seen."""
    if until is None:
        return fetch

    def fetch_until(tickers: list[str], cfg: DataConfig) -> dict[str, pd.DataFrame]:
        return {t: up_to(bars, until) for t, bars in fetch(tickers, cfg).items()}

    return fetch_until
