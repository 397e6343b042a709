"""One step of the live loop at clock `now`, on the validated bars up to then: predict with the
champion (and the challenger in shadow) and journal, monitor, then what the schedule says is due
(updown.live.schedule): the gate on a challenger whose shadow period is over, a retrain.

`updown update` runs one step at the real clock on the project; `updown replay` runs one per bar
of history in its own folder. The loop's own ledger (`<monitor.journal>/loop/`, append-only)
records each retrain and, last, each completed step, keyed by the step's bar: a step already
completed is skipped, and a step killed half-way is rerun from its start, every action in it
idempotent (journal appends, alias moves checked first, the pipeline's up-to-date outputs).
Rows carry the loop's clock (simulated in a replay), never the wall clock.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from updown.commands.monitor import MonitorPaths, monitor_step
from updown.config import Params, load_params
from updown.io import read_json
from updown.live.calls import predict_step
from updown.live.champion import client_for
from updown.live.journal import read_journal
from updown.live.ledger import Ledger
from updown.live.monitor import matured
from updown.live.promotion import (
    CHALLENGER,
    CHAMPION,
    alias_history,
    current_version,
    gate,
    record,
    set_challenger,
)
from updown.live.retrain import abandon_unfinished, clock_params, run_pipeline
from updown.live.schedule import (
    LoopState,
    bars_since,
    gate_figures,
    gate_metric,
    matured_bars,
    retrain_reason,
    shadow_over,
)

if TYPE_CHECKING:
    from mlflow import MlflowClient

log = logging.getLogger(__name__)

LOOP = "loop"
COLUMNS = {"bar": "datetime64[ns, UTC]", "event": "str", "version": "str", "reason": "str"}
RETRAIN, STEP = "retrain", "step"
FIRST = "first model"


def loop_ledger(journal: Path | str) -> Ledger:
    """The loop's record of retrains and completed steps (beside the journal)."""
    return Ledger(Path(journal) / LOOP, ("bar", "event"), COLUMNS)


@dataclass(frozen=True)
class Loop:
    """Where a loop works: `folder` holds its pipeline outputs and params.yaml; `project` the
    rules and code it links to; `replay_raw`: the params a replay's retrain starts from (None:
    the folder's params.yaml as written, the user's project)."""

    folder: Path
    project: Path
    cores: int
    replay_raw: dict[str, Any] | None = None

    def params(self) -> Params:
        return load_params(self.folder / "params.yaml")


def _utc(ts: pd.Timestamp) -> pd.Timestamp:
    return ts.tz_convert("UTC") if ts.tzinfo else ts.tz_localize("UTC")


def _record(ledger: Ledger, bar: pd.Timestamp, event: str, version: str, reason: str) -> None:
    row = {"bar": _utc(bar), "event": event, "version": version, "reason": reason}
    ledger.append(pd.DataFrame([row]))


def has_model(loop: Loop, params: Params) -> bool:
    """Whether some model can answer: a registered version, or else the model file."""
    found = client_for(params, loop.folder)
    if params.mlflow.registered_model:
        name = params.mlflow.registered_model
        return found is not None and bool(found[0].search_model_versions(f"name = '{name}'"))
    return (loop.folder / "models" / "model.txt").is_file()


def retrain(loop: Loop, params: Params, bar: pd.Timestamp, reason: str, done: pd.DataFrame) -> str:
    """The pipeline on the bars up to `bar`, once per bar (a rerun step finds it recorded);
    returns the version it registered ("" for none)."""
    ledger = loop_ledger(params.monitor.journal)
    already = done[(done["bar"] == _utc(bar)) & (done["event"] == RETRAIN)]
    if len(already):
        return str(already["version"].iloc[0])
    found = client_for(params, loop.folder)
    if found is not None and params.mlflow.registered_model:
        abandon_unfinished(
            found[0], found[1], params.mlflow.experiment, params.mlflow.registered_model
        )
    raw = None
    if loop.replay_raw is not None:
        steps = done[done["event"] == RETRAIN]["bar"]
        anchor = steps.min() if len(steps) else None
        raw = clock_params(loop.replay_raw, _utc(bar), anchor, params.retrain.roll_split)
    log.info("retraining at %s: %s", bar, reason)
    version = run_pipeline(loop.project, loop.folder, raw, loop.cores)
    _record(ledger, bar, RETRAIN, version, reason)
    return version


def decide(
    client: MlflowClient, params: Params, rows: pd.DataFrame, challenger: str, now: pd.Timestamp
) -> str:
    """The gate on the challenger's matured shadow calls; a kept champion clears the
    challenger too. Returns the event (promoted, kept)."""
    name = str(params.mlflow.registered_model)
    history = alias_history(params.monitor.journal)
    figures = gate_figures(rows, challenger)
    metric, margin = gate_metric(params), params.retrain.margin
    decision = gate(client, history, name, figures, metric, margin, now)
    event = "promoted" if decision.promote else "kept"
    # The registry's own record of the decision, on the version it judged (the alias history
    # holds the same, with every figure).
    tags = {"gate": event, "gate_at": now.isoformat(), "gate_reason": decision.reason}
    for key, value in tags.items():
        client.set_model_version_tag(name, challenger, key, value)
    if not decision.promote:
        client.delete_registered_model_alias(name, CHALLENGER)
        record(history, now, name, CHALLENGER, (challenger, ""), "cleared", "champion kept")
    log.info("gate at %s: %s", now, decision.reason)
    return event


def state_of(
    params: Params, done: pd.DataFrame, rows: pd.DataFrame, challenger: str, live: dict, bar: Any
) -> LoopState:
    # A retrain recorded at this very bar is this step's, rerun after a kill: it still counts
    # as due, so that the rerun sets its challenger (the pipeline is up to date by then).
    retrains = done[(done["event"] == RETRAIN) & (done["bar"] < bar)]["bar"]
    last = retrains.max() if len(retrains) else None
    steps = done[done["event"] == STEP]["bar"]
    drifted = bool(live.get("drift", {}).get("drifted"))
    return LoopState(
        bars_since(steps, last, bar), challenger, matured_bars(rows, challenger), drifted
    )


def step(loop: Loop, prices: pd.DataFrame, now: pd.Timestamp, page: bool = True) -> dict[str, str]:
    """One step at `now` on `prices` (validated bars up to now); returns what it did (`page`:
    draw reports/live.html too)."""
    now = _utc(now)
    bar = _utc(pd.Timestamp(prices["timestamp"].max()))
    params = loop.params()
    ledger = loop_ledger(params.monitor.journal)
    done = ledger.read()
    if ((done["bar"] == bar) & (done["event"] == STEP)).any():
        return {"bar": str(bar), "skipped": "done before"}
    # A replay's first model is its first retrain (a version a killed first track left behind
    # is no model yet); a user's project has the model `make run` made.
    first = not (done["event"] == RETRAIN).any() if loop.replay_raw else not has_model(loop, params)
    if first:
        retrain(loop, params, bar, FIRST, done)
        done, params = ledger.read(), loop.params()
    paths = MonitorPaths.under(loop.folder)
    run_file = loop.folder / "reports" / "mlflow_run.json"
    run_id = read_json(run_file).get("run_id", "") if run_file.is_file() else ""
    # A challenger retrained at this bar (found when a killed step reruns) shadows from the
    # next bar on, as it did when the step ran through.
    shadow = not ((done["bar"] == bar) & (done["event"] == RETRAIN)).any()
    predict_step(prices, params, str(paths.model), str(run_id), loop.folder, now, shadow)
    live = monitor_step(params, prices, paths, page)
    out = {"bar": str(bar), **schedule_step(loop, params, prices, live, done, now, bar)}
    _record(
        ledger, bar, STEP, out.get("version", ""), "; ".join(f"{k}={v}" for k, v in out.items())
    )
    return out


def schedule_step(
    loop: Loop,
    params: Params,
    prices: pd.DataFrame,
    live: dict,
    done: pd.DataFrame,
    now: pd.Timestamp,
    bar: pd.Timestamp,
) -> dict[str, str]:
    """The gate and the retrain when due, after this step's calls."""
    out: dict[str, str] = {}
    found = client_for(params, loop.folder)
    name = params.mlflow.registered_model
    client = found[0] if found is not None and name else None
    challenger = current_version(client, str(name), CHALLENGER) if client else ""
    rows = matured(read_journal(params.monitor.journal), prices) if challenger else pd.DataFrame()
    state = state_of(params, done, rows, challenger, live, bar)
    if client is not None and shadow_over(state, params.retrain):
        out["gate"] = decide(client, params, rows, challenger, now)
        state = LoopState(state.bars_since_retrain, "", 0, state.drifted)
    reason = retrain_reason(state, params.retrain)
    here = done[(done["bar"] == bar) & (done["event"] == RETRAIN)]
    if reason is None or (here["reason"] == FIRST).any():
        return out
    version = retrain(loop, params, bar, reason, done)
    out |= {"retrain": reason, "version": version}
    if client is not None and version and version != current_version(client, str(name), CHAMPION):
        if current_version(client, str(name), CHALLENGER) != version:
            set_challenger(
                client, alias_history(params.monitor.journal), str(name), version, reason, now
            )
        out["challenger"] = version
    return out
