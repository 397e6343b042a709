"""The journal: every prediction the live loop makes, appended once and never rewritten.

One row per (ticker, as-of bar, horizon, model name, model version, role), where role is
`champion` (the call predict answers with) or `shadow` (a challenger's call, kept to judge it).
The row holds the call, P(up) (classification) or the predicted return (regression), the model's
registry name, version, alias and MLflow run, and when the outcome is known: `outcome_bars` bars
after the as-of bar (the label's entry offset plus its horizon, updown.returns), at the label's
`entry`. The journal lives in `monitor.journal` (default `journal/`), outside the DAG's outputs:
neither `snakemake` nor `dvc repro` reads, writes or removes it. Storage: updown.live.ledger.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from updown.config import Params
from updown.live.ledger import Ledger
from updown.returns import entry_offset, resolve_entry

ROLES = ("champion", "shadow")
COLUMNS: dict[str, str] = {
    "ticker": "str",
    "as_of": "datetime64[ns, UTC]",
    "horizon": "int64",
    "entry": "str",
    "outcome_bars": "int64",
    "label_kind": "str",
    "model_name": "str",
    "model_version": "str",
    "alias": "str",
    "role": "str",
    "run_id": "str",
    "direction": "str",
    "p_up": "float64",
    "predicted_return": "float64",
    "stale": "bool",
    "journalled_at": "datetime64[ns, UTC]",
}
KEY = ("ticker", "as_of", "horizon", "model_name", "model_version", "role")
PREDICTIONS = "predictions"


def journal(folder: Path | str) -> Ledger:
    """The prediction journal kept under `folder` (params monitor.journal)."""
    return Ledger(Path(folder) / PREDICTIONS, KEY, COLUMNS)


def label_entry(params: Params) -> str:
    """Where the label's return starts (`label.entry`, `auto` resolved to the backtest's
    execution point, as the label stage resolves it)."""
    return resolve_entry(params.label.entry, params.evaluate.backtest.execution)


def journal_rows(
    scored: pd.DataFrame,
    params: Params,
    model: tuple[str, str, str],
    role: str,
    now: pd.Timestamp,
) -> pd.DataFrame:
    """Journal rows for the output of updown.serve.predict.predict_latest (one scored bar per
    ticker): `params` are the model's (its label says what it predicts); `model` is its
    (registry name, version, alias); `now` the (possibly simulated) clock."""
    if role not in ROLES:
        raise ValueError(f"role {role!r} is not one of {ROLES}")
    name, version, alias = model
    entry = label_entry(params)
    n = len(scored)

    def column(col: str) -> np.ndarray:
        return scored[col].to_numpy("float64") if col in scored else np.full(n, np.nan)

    rows = pd.DataFrame(
        {
            "ticker": scored["ticker"].astype("str").to_numpy(),
            "as_of": pd.to_datetime(scored["as_of"], utc=True, format="ISO8601").to_numpy(),
            "horizon": params.label.horizon,
            "entry": entry,
            "outcome_bars": entry_offset(entry) + params.label.horizon,
            "label_kind": params.label.kind,
            "model_name": name,
            "model_version": version,
            "alias": alias,
            "role": role,
            "run_id": scored["run_id"].astype("str").to_numpy() if n else [],
            "direction": scored["direction"].astype("str").to_numpy(),
            "p_up": column("p_up"),
            "predicted_return": column("predicted_return"),
            "stale": scored["stale"].to_numpy(bool) if "stale" in scored else False,
            "journalled_at": now.tz_convert("UTC") if now.tzinfo else now.tz_localize("UTC"),
        }
    )
    rows["as_of"] = pd.to_datetime(rows["as_of"], utc=True)
    return rows


def append_predictions(folder: Path | str, rows: pd.DataFrame) -> pd.DataFrame:
    """Append the rows not journalled yet; return those added."""
    return journal(folder).append(rows)


def read_journal(folder: Path | str) -> pd.DataFrame:
    return journal(folder).read()
