"""Bring a source's table to our raw layout without hiding anything `validate` should judge.

Time zones: values that carry a UTC offset (``2024-03-08 09:30:00-05:00``, ``...Z``) are taken as
written, even when the offset changes with daylight saving inside one file. Values without one
(naive) are read in the source's zone (``data.csv.timezone`` for files). A column that mixes the
two, holds text that is not a date, holds plain numbers, or has naive local times that do not
exist or are ambiguous in that zone (a daylight-saving change) is left as text for `validate` to
refuse with `describe_timestamp_problem`, which names the first offending row.
"""

from __future__ import annotations

import re

import pandas as pd

from updown.contract import PRICE_COLUMNS, RAW_COLUMNS
from updown.data.sources.dialect import NUMERIC_DATE, day_first_row

# A clock time followed by an ISO 8601 offset: 09:30-05:00, 09:30:00.5+0100, 14:30:00Z. A date
# alone ("2024-03-08") must not count: its "-08" is a day, not an offset.
_OFFSET = re.compile(r"\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?\s*(?:Z|[+-]\d{2}(?::?\d{2})?)$")


# Yahoo's column names (the yfinance source, and the sample, which is Yahoo data) -> ours.
YAHOO_COLUMNS = {
    "Open": "open",
    "High": "high",
    "Low": "low",
    "Close": "close",
    "Adj Close": "adj_close",
    "Volume": "volume",
}


def _has_offset(text: pd.Series) -> pd.Series:
    return text.str.contains(_OFFSET, regex=True, na=False)


def _localise(naive: pd.Series, timezone: str) -> pd.Series:
    try:
        return naive.dt.tz_localize(timezone, ambiguous="NaT", nonexistent="NaT").dt.tz_convert(
            "UTC"
        )
    except (ValueError, TypeError, KeyError) as exc:  # unknown zone name
        raise ValueError(f"unknown time zone {timezone!r}: {exc}") from exc


def _mixed(text: pd.Series, utc: bool) -> pd.Series:
    """pandas' `format="mixed"`, which infers a format for every value, after a try of ISO 8601
    alone: the format of most files, which it reads in one pass, a tenth of the time."""
    try:
        return pd.to_datetime(text, format="ISO8601", utc=utc)
    except (ValueError, TypeError, OverflowError):
        return pd.to_datetime(text, format="mixed", utc=utc)


def _parse(
    text: pd.Series, dayfirst: bool, date_format: str | None, utc: bool = False
) -> pd.Series:
    if date_format:
        return pd.to_datetime(text, format=date_format, utc=utc)
    if not dayfirst:
        return _mixed(text, utc)
    numeric = text.str.match(NUMERIC_DATE, na=False)
    if not numeric.any():
        return _mixed(text, utc)
    if numeric[text.notna()].all():
        return pd.to_datetime(text, format="mixed", dayfirst=True, utc=utc)
    # dateutil's dayfirst also swaps ISO dates (2020-01-02 -> 1 February): numeric dates alone.
    day_first = pd.to_datetime(text.where(numeric), format="mixed", dayfirst=True, utc=utc)
    iso = pd.to_datetime(text.where(~numeric), format="mixed", utc=utc)
    return day_first.where(numeric, iso)


def to_utc_timestamps(
    values: pd.Series, timezone: str, dayfirst: bool = False, date_format: str | None = None
) -> pd.Series | None:
    """Parse timestamps to tz-aware UTC; naive values are read in `timezone`.

    Returns None when the values cannot all be parsed consistently (see the module docstring),
    so the caller can keep the original text for `validate` to report. Numeric dates with a day
    above 12 first (13/01/2020) count as inconsistent unless `dayfirst` or `date_format` says
    how to read them: pandas would read that row day-first and the others month-first. Raises
    ValueError for an unknown `timezone`.
    """
    if isinstance(values.dtype, pd.DatetimeTZDtype):
        return values.dt.tz_convert("UTC")
    if values.dtype.kind in "biuf":  # epoch numbers or yyyymmdd: too ambiguous to guess
        return None
    if values.dtype.kind == "M":
        parsed = values
    else:
        text = values.astype("str").str.strip()
        if not (dayfirst or date_format) and day_first_row(text) is not None:
            return None
        try:
            parsed = _parse(text.where(values.notna()), dayfirst, date_format)
        except (ValueError, TypeError, OverflowError):
            # Different offsets in one column (daylight saving) are fine when every value has one.
            with_offset = _has_offset(text)
            if not with_offset[values.notna()].all():
                return None
            try:
                return _parse(text.where(values.notna()), dayfirst, date_format, utc=True)
            except (ValueError, TypeError, OverflowError):
                return None
    if isinstance(parsed.dtype, pd.DatetimeTZDtype):
        return parsed.dt.tz_convert("UTC")
    if parsed.dtype.kind != "M":
        return None
    local = _localise(parsed, timezone)
    if (local.isna() & parsed.notna()).any():
        return None  # a daylight-saving gap or overlap: let validate name the value
    return local


def describe_timestamp_problem(values: pd.Series, timezone: str | None) -> str:
    """Why `values` (a timestamp column `to_utc_timestamps` could not parse) is not usable."""
    where = f"data.csv.timezone {timezone}" if timezone else "the source's time zone"
    if values.dtype.kind in "biuf":
        return (
            f"timestamps are plain numbers (first: {values.iloc[0].item()!r}), not dates; write them as "
            "dates or date-times (2024-03-08, 2024-03-08T14:30:00Z)"
        )
    present = values.notna() & (values.astype("str").str.strip() != "")
    text = values.astype("str").str.strip()
    parsed = pd.to_datetime(text.where(present), format="mixed", errors="coerce", utc=True)
    garbage = present & parsed.isna()
    if garbage.any():
        row = int(garbage.to_numpy().argmax())
        return f"timestamp {text.iloc[row]!r} at row {row} is not a date or date-time"
    with_offset = _has_offset(text) & present
    if with_offset.any() and not with_offset[present].all():
        naive_row = int((present & ~with_offset).to_numpy().argmax())
        aware_row = int(with_offset.to_numpy().argmax())
        return (
            "timestamps mix values with and without a UTC offset (row "
            f"{naive_row}: {text.iloc[naive_row]!r} has none, row {aware_row}: "
            f"{text.iloc[aware_row]!r} has one); give every value an offset, or none "
            f"(then {where} applies)"
        )
    if timezone:
        naive = pd.to_datetime(text.where(present), format="mixed", errors="coerce")
        if naive.dtype.kind == "M":
            try:
                local = naive.dt.tz_localize(timezone, ambiguous="NaT", nonexistent="NaT")
            except (ValueError, TypeError, KeyError):
                local = None
            if local is not None:
                lost = (local.isna() & naive.notna()).to_numpy()
                if lost.any():
                    row = int(lost.argmax())
                    return (
                        f"timestamp {text.iloc[row]!r} at row {row} does not exist or is "
                        f"ambiguous in {where} (a daylight-saving change); write the values in "
                        "UTC or with their offset"
                    )
    return f"timestamps could not be read as dates (first values: {text.head(3).tolist()})"


def normalise(
    table: pd.DataFrame,
    timezone: str,
    origin: str,
    dayfirst: bool = False,
    date_format: str | None = None,
) -> pd.DataFrame:
    """Return `table` (already renamed to our names) with UTC timestamps and numeric prices.

    Columns that do not parse stay as text; missing columns stay missing. `origin` (the file or
    request the bars came from) and `timezone` travel in `attrs` so `validate` can name them.
    `dayfirst` and `date_format` are data.csv's (see `to_utc_timestamps`). Raises ValueError
    for an unknown `timezone`.
    """
    out = table.copy()
    if "timestamp" in out.columns:
        parsed = to_utc_timestamps(out["timestamp"], timezone, dayfirst, date_format)
        if parsed is not None:
            out["timestamp"] = parsed
        elif out["timestamp"].dtype.kind not in "biuf":
            out["timestamp"] = out["timestamp"].astype("str")
    for col in PRICE_COLUMNS:
        if col in out.columns:
            if out[col].dtype.kind == "b":  # True/False is not a price
                out[col] = out[col].astype("str")
                continue
            numeric = pd.to_numeric(out[col], errors="coerce")
            bad = numeric.isna() & out[col].notna()
            out[col] = numeric.astype("float64") if not bad.any() else out[col].astype("str")
    keep = [c for c in RAW_COLUMNS if c in out.columns] or list(out.columns)
    out = out[keep]
    for col in out.columns:  # Parquet needs one type per column
        if out[col].dtype == object:
            out[col] = out[col].astype("str")
    out.attrs = {**table.attrs, "origin": origin, "timezone": timezone}
    return out.reset_index(drop=True)
