"""Champion and challenger: the registry aliases the live loop moves, and the history of every
move, which MLflow does not keep (MLflow #2169).

Each move sets the alias in the registry (one write: a predict running meanwhile resolves the
alias once and answers with the old or the new version, never a mix) and then appends a row to
the alias history beside the journal (`<monitor.journal>/aliases/`, append-only like the
journal): time (the loop's clock, simulated in a replay), model, alias, from and to versions,
event (set, promoted, kept, cleared), reason, the metric and figures the decision rests on.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from updown.errors import UpdownError
from updown.live.figures import LIVE_METRICS, better
from updown.live.ledger import Ledger

if TYPE_CHECKING:
    from mlflow import MlflowClient

CHAMPION, CHALLENGER = "champion", "challenger"
ALIASES = "aliases"
COLUMNS: dict[str, str] = {
    "time": "datetime64[ns, UTC]",
    "model_name": "str",
    "alias": "str",
    "from_version": "str",
    "to_version": "str",
    "event": "str",
    "reason": "str",
    "metric": "str",
    "champion_figure": "float64",
    "challenger_figure": "float64",
    "margin": "float64",
    "figures": "str",
}
KEY = ("time", "model_name", "alias", "event", "from_version", "to_version")


def alias_history(folder: Path | str) -> Ledger:
    """The alias history kept under `folder` (params monitor.journal)."""
    return Ledger(Path(folder) / ALIASES, KEY, COLUMNS)


@dataclass(frozen=True)
class Decision:
    """The gate's verdict on a challenger, with what it rests on."""

    promote: bool
    metric: str
    champion: float
    challenger: float
    margin: float
    reason: str


def promote_if_better(
    champion_figures: dict[str, Any], challenger_figures: dict[str, Any], metric: str, margin: float
) -> Decision:
    """Promote the challenger only if it beats the champion on `metric` by more than `margin`
    (in the metric's own direction) over the same bars; an undefined figure never promotes."""
    if metric not in LIVE_METRICS:
        raise UpdownError(f"metric {metric!r} is not one of {', '.join(LIVE_METRICS)}")
    if margin < 0:
        raise UpdownError(f"margin: {margin} must be 0 or more")
    champ = float(champion_figures.get(metric, math.nan))
    chall = float(challenger_figures.get(metric, math.nan))
    promote = better(metric, chall, champ, margin)
    if not (math.isfinite(champ) and math.isfinite(chall)):
        reason = f"{metric} undefined for one of them: champion kept"
    elif promote:
        reason = f"challenger {metric} {chall:.4f} beats champion {champ:.4f} by more than {margin}"
    else:
        reason = f"challenger {metric} {chall:.4f} does not beat {champ:.4f} by more than {margin}"
    return Decision(promote, metric, champ, chall, margin, reason)


def _clock(now: pd.Timestamp) -> pd.Timestamp:
    return now.tz_convert("UTC") if now.tzinfo else now.tz_localize("UTC")


def record(
    history: Ledger,
    now: pd.Timestamp,
    name: str,
    alias: str,
    versions: tuple[str, str],
    event: str,
    reason: str,
    decision: Decision | None = None,
    figures: dict[str, Any] | None = None,
) -> None:
    """Append one row to the alias history."""
    nan = math.nan
    row = {
        "time": _clock(now),
        "model_name": name,
        "alias": alias,
        "from_version": versions[0],
        "to_version": versions[1],
        "event": event,
        "reason": reason,
        "metric": decision.metric if decision else "",
        "champion_figure": decision.champion if decision else nan,
        "challenger_figure": decision.challenger if decision else nan,
        "margin": decision.margin if decision else nan,
        "figures": json.dumps(figures or {}, sort_keys=True, default=str),
    }
    history.append(pd.DataFrame([row]))


def current_version(client: MlflowClient, name: str, alias: str) -> str:
    """The version `alias` points to, or "" when it points nowhere."""
    from mlflow.exceptions import MlflowException

    try:
        return str(client.get_model_version_by_alias(name, alias).version)
    except MlflowException:
        return ""


def move_alias(
    client: MlflowClient,
    history: Ledger,
    name: str,
    alias: str,
    version: str,
    reason: str,
    now: pd.Timestamp,
    event: str = "set",
    decision: Decision | None = None,
    figures: dict[str, Any] | None = None,
) -> None:
    """Point `alias` at `version` and record the move."""
    before = current_version(client, name, alias)
    client.set_registered_model_alias(name, alias, version)
    record(history, now, name, alias, (before, version), event, reason, decision, figures)


def first_champion(client: MlflowClient, history: Ledger, name: str, now: pd.Timestamp) -> Any:
    """With no champion yet, the first registered version becomes champion ("first model");
    returns that version, or None when the model has no version."""
    from mlflow.exceptions import MlflowException

    try:
        versions = client.search_model_versions(f"name = '{name}'")
    except MlflowException:
        return None
    if not versions:
        return None
    first = min(versions, key=lambda v: int(v.version))
    move_alias(client, history, name, CHAMPION, str(first.version), "first model", now)
    return client.get_model_version(name, str(first.version))


def set_challenger(
    client: MlflowClient, history: Ledger, name: str, version: str, reason: str, now: pd.Timestamp
) -> None:
    """Make `version` the challenger: it predicts in shadow until the gate decides."""
    move_alias(client, history, name, CHALLENGER, version, reason, now)


def gate(
    client: MlflowClient,
    history: Ledger,
    name: str,
    figures: tuple[dict[str, Any], dict[str, Any]],
    metric: str,
    margin: float,
    now: pd.Timestamp,
) -> Decision:
    """Decide on the challenger with `figures` (the champion's, the challenger's, on the same
    bars); promote it to champion if it wins, and record the decision either way."""
    champion = current_version(client, name, CHAMPION)
    challenger = current_version(client, name, CHALLENGER)
    if not challenger:
        raise UpdownError(f"registered model {name}: no challenger to decide on")
    decision = promote_if_better(figures[0], figures[1], metric, margin)
    shown = {"champion": figures[0], "challenger": figures[1]}
    if decision.promote:
        move_alias(
            client, history, name, CHAMPION, challenger, decision.reason, now, "promoted",
            decision, shown,
        )  # fmt: skip
        client.delete_registered_model_alias(name, CHALLENGER)
        record(history, now, name, CHALLENGER, (challenger, ""), "cleared", "promoted to champion")
    else:
        record(
            history, now, name, CHAMPION, (champion, champion), "kept", decision.reason,
            decision, shown,
        )  # fmt: skip
    return decision
