"""A local folder of per-ticker CSV (optionally gzip) or Parquet files, mapped by params."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from updown.errors import UpdownError
from updown.io import check_ticker
from updown.sources.normalise import normalise

if TYPE_CHECKING:
    from updown.config import CsvConfig, DataConfig


def source_file(cfg: CsvConfig, ticker: str) -> Path:
    """Where `ticker`'s file lives, from data.csv.path and data.csv.pattern."""
    return Path(cfg.path) / cfg.pattern.format(ticker=check_ticker(ticker))


def read_table(path: Path) -> pd.DataFrame:
    """Read one CSV/CSV.gz/Parquet file as it is; a missing or unparseable file names itself."""
    if not path.exists():
        raise UpdownError(f"{path}: file not found (check data.csv.path and data.csv.pattern)")
    try:
        if path.suffix == ".parquet":
            return pd.read_parquet(path)
        return pd.read_csv(path, compression="infer", skipinitialspace=True)
    except pd.errors.EmptyDataError:
        return pd.DataFrame()
    except (pd.errors.ParserError, csv.Error, UnicodeDecodeError, OSError, ValueError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise UpdownError(f"{path}: cannot parse: {first}") from exc


def load_file(path: Path, cfg: CsvConfig) -> pd.DataFrame:
    """One ticker's bars in our raw layout; columns renamed by data.csv.columns."""
    table = read_table(path)
    mapping = {theirs: ours for ours, theirs in cfg.columns.items() if theirs}
    table = table.rename(columns={c: mapping.get(str(c).strip(), c) for c in table.columns})
    if cfg.columns.get("adj_close") is None and "close" in table.columns:
        table["adj_close"] = table["close"]
    try:
        return normalise(table, cfg.timezone, origin=str(path))
    except ValueError as exc:
        raise UpdownError(f"{path}: {exc} (check data.csv.timezone)") from exc


def fetch(tickers: list[str], cfg: DataConfig) -> dict[str, pd.DataFrame]:
    start = pd.Timestamp(cfg.start, tz=cfg.csv.timezone)
    end = pd.Timestamp(cfg.end, tz=cfg.csv.timezone) + pd.Timedelta(days=1)
    out = {}
    for ticker in tickers:
        bars = load_file(source_file(cfg.csv, ticker), cfg.csv)
        if isinstance(bars.get("timestamp", pd.Series()).dtype, pd.DatetimeTZDtype):
            mask = (bars["timestamp"] >= start) & (bars["timestamp"] < end)
            attrs = bars.attrs
            bars = bars.loc[mask].reset_index(drop=True)
            bars.attrs = attrs
        out[ticker] = bars
    return out
