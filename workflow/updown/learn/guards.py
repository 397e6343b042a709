"""Preconditions a stage checks on its inputs before the expensive work, so that data which
cannot serve the params stops the run with the key and the data's own numbers in one line,
instead of as an empty block or a crash deep inside LightGBM."""

from __future__ import annotations

import dataclasses

import pandas as pd

from updown.config import FeaturesConfig, SplitConfig
from updown.errors import UpdownError
from updown.learn.features import qlib14_config


def longest_window(cfg: FeaturesConfig) -> tuple[int, str]:
    """The longest trailing window the features use, and the key that sets it."""
    if cfg.preset == "qlib14":
        cfg = qlib14_config(cfg)
    best, key = 1, "features"
    for f in dataclasses.fields(cfg):
        value = getattr(cfg, f.name)
        if f.name.endswith("_windows") and value and max(value) > best:
            best, key = max(value), f"features.{f.name}"
    return best, key


def check_feature_history(panel: pd.DataFrame, cfg: FeaturesConfig) -> None:
    """Refuse a ticker with no more bars than the longest feature window: every one of its rows
    would lack that feature. `panel` is the validated price panel."""
    window, key = longest_window(cfg)
    counts = panel.groupby("ticker", sort=True).size()
    short = counts[counts <= window]
    if len(short):
        ticker, n = str(short.index[0]), int(short.iloc[0])
        others = f" (and {len(short) - 1} more tickers)" if len(short) > 1 else ""
        raise UpdownError(
            f"ticker {ticker} has only {n} bars{others}, not more than the longest feature "
            f"window ({window}, {key}): shorten the windows, remove the ticker from "
            f"data.tickers, or set validate.min_rows above {window} so validate drops or stops it"
        )


def check_split_dates(timestamps: pd.Series, split: SplitConfig) -> None:
    """Refuse split dates that leave the train or test block empty for the data at hand.

    `timestamps` are the labelled rows' (UTC). params.yaml alone cannot know this: the data may
    start after data.start (a listing date) or end before data.end (no bars yet).
    """
    if timestamps.empty:
        raise UpdownError("no labelled rows to split (see reports/validation.json)")
    first, last = timestamps.min(), timestamps.max()
    span = f"the labelled data run from {first.date()} to {last.date()}"
    if pd.Timestamp(split.train_end, tz="UTC") < first.normalize():
        raise UpdownError(
            f"split.train_end ({split.train_end}) is before the data's first bar: the train "
            f"block would be empty; {span}"
        )
    if pd.Timestamp(split.valid_end, tz="UTC") + pd.Timedelta(days=1) > last:
        raise UpdownError(
            f"split.valid_end ({split.valid_end}) is on or after the data's last bar: the test "
            f"block would be empty; {span}"
        )
