"""Synthetic panels for the train / evaluate / backtest tests: prices, features and labels that
follow the labels contract (ticker, timestamp, label, forward_return, label_end; attrs
label_kind and horizon), with a planted, known amount of predictability."""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

import numpy as np
import pandas as pd
from conftest import REPO
from synthetic_panels import ohlc_bars
from updown.assess.evaluate import FoldInput
from updown.config import Params, load_params
from updown.learn.train import TrainResult, fold_blocks


def params(**sections: dict[str, Any]) -> Params:
    """The repository's params.yaml, with fields of the named sections replaced."""
    p = load_params(REPO / "params.yaml")
    changes = {name: dataclasses.replace(getattr(p, name), **kw) for name, kw in sections.items()}
    return dataclasses.replace(p, **changes)


def synthetic(
    n_bars: int = 1200,
    tickers: tuple[str, ...] = ("AAA", "BBB", "CCC", "DDD"),
    signal: float = 0.3,
    seed: int = 0,
    kind: str = "direction",
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """(prices, features, labels). The next bar's log return is `signal` x `hint` (a feature known
    at t) plus noise of the same scale; `noise` is a feature with no information."""
    rng = np.random.default_rng(seed)
    ts = pd.bdate_range("2010-01-04", periods=n_bars, tz="UTC") + pd.Timedelta(hours=21)
    prices, features, labels = [], [], []
    for ticker in tickers:
        hint = rng.standard_normal(n_bars)
        step = 0.01 * (signal * hint + rng.standard_normal(n_bars))  # log return t -> t+1
        logc = np.concatenate([[np.log(100.0)], np.log(100.0) + np.cumsum(step[:-1])])
        close = np.exp(logc)
        open_ = close * np.exp(0.002 * rng.standard_normal(n_bars))
        prices.append(ohlc_bars(ticker, ts, open_, close, 0.005))
        ret_1 = np.concatenate([[np.nan], np.diff(logc)])
        features.append(
            pd.DataFrame(
                {
                    "ticker": ticker,
                    "timestamp": ts,
                    "ret_1": ret_1,
                    "hint": hint,
                    "noise": rng.standard_normal(n_bars),
                }
            )
        )
        fwd = np.diff(logc)  # the last bar has no next bar
        frame = pd.DataFrame(
            {
                "ticker": ticker,
                "timestamp": ts[:-1],
                "label": (fwd > 0).astype("int8") if kind != "return" else fwd,
                "forward_return": fwd,
                "label_end": ts[1:],
            }
        )
        labels.append(frame)
    out = [pd.concat(f, ignore_index=True) for f in (prices, features, labels)]
    out[2].attrs = {"label_kind": kind, "horizon": "1"}
    return out[0], out[1], out[2]


def split_dates(n_bars: int = 1200, train: float = 0.6, valid: float = 0.2) -> dict[str, Any]:
    """split.train_end / valid_end cutting a synthetic panel of `n_bars` bars by share."""
    ts = pd.bdate_range("2010-01-04", periods=n_bars)
    return {
        "train_end": ts[int(n_bars * train)].date(),
        "valid_end": ts[int(n_bars * (train + valid))].date(),
        "embargo_bars": 0,
        "mode": "holdout",
    }


def fold_inputs(table: pd.DataFrame, p: Params, result: TrainResult) -> list[FoldInput]:
    blocks = fold_blocks(table, p.split)
    return [
        FoldInput(f.fold, b, f.model_text, f.baselines)
        for b, f in zip(blocks, result.folds, strict=True)
    ]


def as_date(x: Any) -> dt.date:
    return pd.Timestamp(x).date()
