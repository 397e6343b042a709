"""Bring a source's table to our raw layout without hiding anything `validate` should judge."""

from __future__ import annotations

import pandas as pd

RAW_COLUMNS = ["timestamp", "open", "high", "low", "close", "adj_close", "volume"]
PRICE_COLUMNS = ["open", "high", "low", "close", "adj_close", "volume"]


def to_utc_timestamps(values: pd.Series, timezone: str) -> pd.Series | None:
    """Parse timestamps to tz-aware UTC; naive values are read in `timezone`.

    Returns None when the values cannot all be parsed consistently (garbage, or a mix of naive and
    zone-aware values), so the caller can keep the original text for `validate` to report.
    """
    if isinstance(values.dtype, pd.DatetimeTZDtype):
        return values.dt.tz_convert("UTC")
    try:
        parsed = (
            pd.to_datetime(values, format="mixed") if values.dtype != "datetime64[ns]" else values
        )
    except (ValueError, TypeError, OverflowError):
        return None
    if isinstance(parsed.dtype, pd.DatetimeTZDtype):
        return parsed.dt.tz_convert("UTC")
    if parsed.dtype.kind != "M":
        return None
    try:
        return parsed.dt.tz_localize(timezone, ambiguous="NaT", nonexistent="NaT").dt.tz_convert(
            "UTC"
        )
    except (ValueError, TypeError) as exc:  # unknown zone name
        raise ValueError(f"cannot localise timestamps to {timezone!r}: {exc}") from exc


def normalise(table: pd.DataFrame, timezone: str, origin: str) -> pd.DataFrame:
    """Return `table` (already renamed to our names) with UTC timestamps and numeric prices.

    Columns that do not parse stay as text; missing columns stay missing. `origin` (the file or
    request the bars came from) travels in `attrs` so `validate` can name it.
    """
    out = table.copy()
    if "timestamp" in out.columns:
        parsed = to_utc_timestamps(out["timestamp"], timezone)
        out["timestamp"] = parsed if parsed is not None else out["timestamp"].astype("str")
    for col in PRICE_COLUMNS:
        if col in out.columns:
            numeric = pd.to_numeric(out[col], errors="coerce")
            bad = numeric.isna() & out[col].notna()
            out[col] = numeric.astype("float64") if not bad.any() else out[col].astype("str")
    keep = [c for c in RAW_COLUMNS if c in out.columns] or list(out.columns)
    out = out[keep]
    for col in out.columns:  # Parquet needs one type per column
        if out[col].dtype == object:
            out[col] = out[col].astype("str")
    out.attrs = {"origin": origin}
    return out.reset_index(drop=True)
