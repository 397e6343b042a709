"""A local folder of per-ticker CSV (optionally gzip) or Parquet files, mapped by params.

A file that cannot be read at all (missing, unreadable, not CSV or Parquet) stops acquire with
its path. A file that reads but is not good bars (a provider's message, missing columns, text in
a price column, mixed time zones...) is passed on as it is, for `validate` to judge under the
ticker's policy.
"""

from __future__ import annotations

import csv
import zlib
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from updown.contract import PRICE_COLUMNS
from updown.data.sources.dialect import (
    date_format_hint,
    dayfirst_hint,
    number_hint,
    read_options,
    separator_hint,
)
from updown.data.sources.normalise import normalise
from updown.errors import UpdownError
from updown.io import check_ticker

if TYPE_CHECKING:
    from updown.config import CsvConfig, DataConfig

_DAY = pd.Timedelta(days=1)

# Everything pandas, pyarrow, gzip and the csv module raise for a file that is not what its
# name says (binary junk, a truncated .gz, ragged rows, a directory, no permission...).
_UNREADABLE = (
    pd.errors.ParserError,
    csv.Error,
    UnicodeDecodeError,
    OSError,
    EOFError,
    zlib.error,
    ValueError,
    TypeError,
    OverflowError,
)


def source_file(cfg: CsvConfig, ticker: str) -> Path:
    """Where `ticker`'s file lives, from data.csv.path and data.csv.pattern."""
    return Path(cfg.path) / cfg.pattern.format(ticker=check_ticker(ticker))


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0][:200] if text else type(exc).__name__


def _header_hint(path: Path, cfg: CsvConfig) -> str | None:
    """The separator hint for a file whose rows did not parse: is its header one column?"""
    try:
        header = pd.read_csv(path, compression="infer", nrows=0, sep=cfg.sep).columns
    except (*_UNREADABLE, pd.errors.EmptyDataError):
        return None
    return separator_hint([str(c) for c in header], cfg.sep)


def read_table(path: Path, cfg: CsvConfig) -> pd.DataFrame:
    """Read one CSV/CSV.gz/Parquet file as it is (CSV in data.csv's dialect); a missing or
    unparseable file names itself, and the separator it seems to use."""
    if not path.exists():
        raise UpdownError(f"{path}: file not found (check data.csv.path and data.csv.pattern)")
    if path.is_dir():
        raise UpdownError(f"{path}: is a folder, not a file (check data.csv.pattern)")
    try:
        if path.suffix == ".parquet":
            return pd.read_parquet(path)
        return pd.read_csv(
            path, compression="infer", skipinitialspace=True, **read_options(cfg)
        )
    except pd.errors.EmptyDataError:
        return pd.DataFrame()
    except _UNREADABLE as exc:
        hint = None if path.suffix == ".parquet" else _header_hint(path, cfg)
        raise UpdownError(
            f"{path}: cannot parse: {_first_line(exc)}" + (f"; {hint}" if hint else "")
        ) from exc


def rename_columns(table: pd.DataFrame, cfg: CsvConfig, path: Path) -> pd.DataFrame:
    """The file's columns under our names (data.csv.columns maps ours to theirs).

    Several of our names may read the same column of the file (say adj_close and close both
    from "close"); a file whose header repeats a mapped name is refused by name.
    """
    header = [str(c).strip() for c in table.columns]
    table = table.set_axis(header, axis=1)
    out: dict[str, pd.Series] = {}
    for ours, theirs in cfg.columns.items():
        if theirs is None or theirs not in header:
            continue
        if header.count(theirs) > 1:
            raise UpdownError(f"{path}: the header has column {theirs!r} more than once")
        out[ours] = table[theirs]
    if cfg.columns.get("adj_close") is None and "close" in out:
        out["adj_close"] = out["close"]
    if not out:  # nothing mapped: keep the file as it is, so validate can show what it holds
        return table
    frame = pd.DataFrame(out, index=table.index)
    absent = {
        ours: theirs for ours, theirs in cfg.columns.items() if theirs and theirs not in header
    }
    if absent:
        wanted = ", ".join(f"{ours}: {theirs!r}" for ours, theirs in absent.items())
        shown = header if len(header) <= 12 else [*header[:12], "..."]
        frame.attrs["note"] = f"data.csv.columns wants {wanted}; the file's columns are {shown}"
    return frame


def dialect_hints(table: pd.DataFrame, frame: pd.DataFrame, bars: pd.DataFrame, cfg: CsvConfig) -> list[str]:
    """What data.csv setting the file seems to need: `table` as read, `frame` renamed to our
    columns, `bars` normalised (see updown.data.sources.dialect)."""
    hints = [separator_hint([str(c) for c in table.columns], cfg.sep)]
    text = [c for c in PRICE_COLUMNS if c in bars.columns and bars[c].dtype.kind != "f"]
    numbers = (number_hint(c, frame[c], cfg) for c in text if c in frame.columns)
    hints.append(next(filter(None, numbers), None))  # one column shows how numbers are written
    if "timestamp" in frame.columns and frame["timestamp"].dtype.kind not in "biufM":
        parsed = bars["timestamp"]
        aware = isinstance(parsed.dtype, pd.DatetimeTZDtype)
        if cfg.date_format and not aware:
            hints.append(date_format_hint(frame["timestamp"], cfg.date_format))
        elif not cfg.date_format and not cfg.dayfirst:
            hints.append(dayfirst_hint(frame["timestamp"], parsed if aware else None))
    return [h for h in dict.fromkeys(hints) if h]


def load_file(path: Path, cfg: CsvConfig) -> pd.DataFrame:
    """One ticker's bars in our raw layout; columns renamed by data.csv.columns. A setting the
    file seems to need is named in ``attrs["hint"]`` for validate's message."""
    table = read_table(path, cfg)
    frame = rename_columns(table, cfg, path)
    try:
        bars = normalise(frame, cfg.timezone, str(path), cfg.dayfirst, cfg.date_format)
    except ValueError as exc:
        raise UpdownError(f"{path}: data.csv.timezone: {exc}") from exc
    hints = dialect_hints(table, frame, bars, cfg)
    if hints:
        bars.attrs["hint"] = "; ".join(hints)
    return bars


def fetch(tickers: list[str], cfg: DataConfig) -> dict[str, pd.DataFrame]:
    try:
        start = pd.Timestamp(cfg.start, tz=cfg.csv.timezone)
    except Exception as exc:  # pytz/zoneinfo raise several types for an unknown zone
        raise UpdownError(
            f"data.csv.timezone: unknown time zone {cfg.csv.timezone!r} "
            "(use an IANA name such as America/New_York or UTC)"
        ) from exc
    # data.end is inclusive; None: up to the newest bar
    end = None if cfg.end is None else pd.Timestamp(cfg.end, tz=cfg.csv.timezone) + _DAY
    out = {}
    for ticker in tickers:
        bars = load_file(source_file(cfg.csv, ticker), cfg.csv)
        if isinstance(bars.get("timestamp", pd.Series()).dtype, pd.DatetimeTZDtype):
            mask = bars["timestamp"] >= start
            if end is not None:
                mask &= bars["timestamp"] < end
            attrs = dict(bars.attrs)
            if len(bars) and not mask.any():
                first, last = bars["timestamp"].min(), bars["timestamp"].max()
                span = (
                    f"the file's {len(bars)} rows run from {first.date()} to {last.date()}, none "
                    f"between data.start {cfg.start} and data.end {cfg.end or 'newest'}"
                )
                attrs["note"] = "; ".join(filter(None, [attrs.get("note"), span]))
            bars = bars.loc[mask].reset_index(drop=True)
            bars.attrs = attrs
        out[ticker] = bars
    return out
