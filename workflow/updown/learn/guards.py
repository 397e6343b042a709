"""Preconditions a stage checks on its inputs before the expensive work, so that data which
cannot serve the params stops the run with the key and the data's own numbers in one line,
instead of as an empty block or a crash deep inside LightGBM."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd

from updown.config import FeaturesConfig, SplitConfig
from updown.errors import UpdownError
from updown.learn.features import qlib14_config
from updown.panel import position_in_ticker, rows_left_in_ticker


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
    would lack that feature. `panel` is the validated price panel; a ticker split at gaps
    (its segments, see updown.panel) needs one segment longer than the window."""
    window, key = longest_window(cfg)
    last = rows_left_in_ticker(panel) == 0  # the last row of each segment
    ends = np.flatnonzero(last)
    runs = pd.DataFrame(
        {
            "ticker": panel["ticker"].iloc[ends].to_numpy(),
            "bars": position_in_ticker(panel)[ends] + 1,
        }
    )
    by_ticker = runs.groupby("ticker", sort=True)["bars"]
    longest, pieces = by_ticker.max(), by_ticker.size()
    short = longest[longest <= window]
    if len(short):
        ticker, n = str(short.index[0]), int(short.iloc[0])
        others = f" (and {len(short) - 1} more tickers)" if len(short) > 1 else ""
        if pieces[ticker] > 1:
            what = f"{n} bars between gaps longer than validate.max_gap_days ({pieces[ticker]} segments)"
            fix = "raise validate.max_gap_days if those gaps are ordinary closures"
        else:
            what = f"{n} bars"
            fix = f"set validate.min_rows above {window} so validate drops or stops it"
        raise UpdownError(
            f"ticker {ticker} has only {what}{others}, not more than the longest feature window "
            f"({window}, {key}): shorten the windows, remove the ticker from data.tickers, or {fix}"
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
