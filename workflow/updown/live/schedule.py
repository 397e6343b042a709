"""The live loop's schedule: when to retrain, when a shadow period ends, what the gate compares.

Pure: the loop derives the state from its ledgers (the steps it completed, the journal and the
registry's challenger alias), so a killed loop resumes with the same state. A retrain is due
`retrain.every_bars` steps (bars) after the last one, or on a drift alert once `retrain.min_bars`
have passed; none while a challenger shadows the champion. A shadow period ends when
`retrain.shadow_bars` as-of bars of the challenger's shadow calls have matured; the gate then
compares both models' live figures on exactly those (ticker, bar) calls.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from updown.assess.metrics import resolve_headline
from updown.config import Params, RetrainConfig
from updown.contract import task_for
from updown.live.figures import LIVE_METRICS, live_figures

#: metrics.json's headline figure -> the live figure that measures the same thing
LIVE_NAME = {m.test_name: m.name for m in LIVE_METRICS.values()} | {"rank_ic": "rank_ic"}
CALL = ["ticker", "as_of"]


@dataclass(frozen=True)
class LoopState:
    """What the schedule decides on: steps (bars) since the last retrain (the current step
    included), the challenger in shadow ("" for none) and its matured shadow bars."""

    bars_since_retrain: int
    challenger: str
    shadow_matured_bars: int
    drifted: bool


def retrain_reason(state: LoopState, cfg: RetrainConfig) -> str | None:
    """Why a retrain is due now, or None."""
    if state.challenger:
        return None  # one challenger at a time: it is judged before the next is trained
    if state.bars_since_retrain >= cfg.every_bars:
        return f"schedule: {state.bars_since_retrain} bars since the last retrain"
    if cfg.on_drift and state.drifted and state.bars_since_retrain >= cfg.min_bars:
        return f"drift alert, {state.bars_since_retrain} bars since the last retrain"
    return None


def shadow_over(state: LoopState, cfg: RetrainConfig) -> bool:
    """Whether the challenger has shadowed long enough for the gate to decide."""
    return bool(state.challenger) and state.shadow_matured_bars >= cfg.shadow_bars


def bars_since(step_bars: pd.Series, last_retrain: pd.Timestamp | None, now: pd.Timestamp) -> int:
    """Steps after the last retrain up to and including `now` (each step is one bar)."""
    bars = pd.to_datetime(step_bars, utc=True)
    after = bars > last_retrain if last_retrain is not None else pd.Series(True, index=bars.index)
    return int(((after) & (bars < now)).sum()) + 1


def shadow_calls(rows: pd.DataFrame, challenger: str) -> pd.DataFrame:
    """The challenger's matured shadow calls in `rows` (the monitor's matured journal)."""
    return rows[(rows["role"] == "shadow") & (rows["model_version"] == challenger)]


def matured_bars(rows: pd.DataFrame, challenger: str) -> int:
    """How many as-of bars of the challenger's shadow calls have matured."""
    if not challenger or rows.empty:
        return 0
    return int(shadow_calls(rows, challenger)["as_of"].nunique())


def gate_figures(rows: pd.DataFrame, challenger: str) -> tuple[dict, dict]:
    """(champion's, challenger's) live figures over the same matured calls: the challenger's
    shadow calls and the champion's calls on those tickers and bars."""
    shadow = shadow_calls(rows, challenger)
    champion = rows[rows["role"] == "champion"].merge(shadow[CALL], on=CALL, how="inner")
    shadow = shadow.merge(champion[CALL], on=CALL, how="inner")
    return live_figures(champion), live_figures(shadow)


def gate_metric(params: Params) -> str:
    """retrain.metric, auto resolved to the live figure of the evaluate headline."""
    if params.retrain.metric != "auto":
        return params.retrain.metric
    task = task_for(params.label.kind)
    headline = resolve_headline(params.evaluate.headline, task, len(params.data.tickers))
    return LIVE_NAME.get(headline.name, "hit_rate")
