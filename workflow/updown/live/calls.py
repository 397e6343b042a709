"""One step's calls: the champion scores the latest bar of every ticker, a challenger (if any)
scores the same bars in shadow, and both are journalled.

The predict stage runs it on the validated panel; a replay runs it on the panel as it stood at
its simulated clock (`now`), so a step sees only the bars up to then.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd

from updown.config import Params
from updown.live.champion import ServedModel, resolve_alias, resolve_champion
from updown.live.journal import append_predictions, journal_rows
from updown.live.promotion import CHALLENGER
from updown.serve.predict import predict_latest

log = logging.getLogger(__name__)


def score(prices: pd.DataFrame, model: ServedModel) -> pd.DataFrame:
    """The latest bar of every ticker scored by `model` (predict_latest with its params)."""
    return predict_latest(prices, model.model_text, model.params, model.run_id)


def predict_step(
    prices: pd.DataFrame,
    params: Params,
    model_path: str,
    run_id: str,
    root: Path,
    now: pd.Timestamp,
    shadow: bool = True,
) -> tuple[pd.DataFrame, int]:
    """The champion's scored latest bars (reports/latest.csv) and how many journal rows this
    step added (champion and shadow calls; 0 when the step ran before). `shadow`: False
    leaves the challenger out (the loop rerunning the step that made it)."""
    champion = resolve_champion(params, model_path, run_id, root, now)
    latest = score(prices, champion)
    rows = [journal_rows(latest, champion.params, champion.identity, "champion", now)]
    challenger = resolve_alias(params, root, CHALLENGER) if shadow else None
    if challenger is not None and challenger.version != champion.version:
        shadow = score(prices, challenger)
        rows.append(journal_rows(shadow, challenger.params, challenger.identity, "shadow", now))
        log.info("shadow calls by %s", challenger.source)
    # One append: the step's champion and shadow calls land in the journal together or not at all.
    added = len(append_predictions(params.monitor.journal, pd.concat(rows, ignore_index=True)))
    log.info("journal %s: %d new call(s)", params.monitor.journal, added)
    return latest, added
