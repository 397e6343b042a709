"""A replay's self-check (`updown replay --audit`, the replay benchmark, tests/test_replay.py):
the issue's done-means, checked on the replay's folder after it ran.

- calls: the journal holds one champion call per ticker and step (a step's calls carry its
  clock), none as of a bar after its clock, no key twice;
- predict: journalled probabilities of a few (version, bar) pairs, the first and last call of
  every version, equal to the bit what `updown predict --as-of --version` answers;
- monitor: live.json's figures over the whole journal equal those recomputed here from the
  journal and the source's bars alone (the outcome of a call: the log return of the adjusted
  price from its entry bar to `horizon` bars later, as its label measures it);
- history: at least one retrain after the first model, one challenger set and shadowing, one
  gate decision, in the alias history and in MLflow (version tags, the -live experiment's runs).
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from updown.cli import build_parser
from updown.commands.predict import answer_question, served
from updown.config import Params, load_params
from updown.data.clock import up_to
from updown.data.sources import get_fetch
from updown.data.validate import validate_all
from updown.live.journal import KEY, read_journal
from updown.live.loop import RETRAIN, STEP, loop_ledger
from updown.live.promotion import alias_history

EPS = 1e-15
REL = 1e-9  # the monitor and this check sum in different orders


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str


def call_checks(journal: pd.DataFrame, steps: pd.DataFrame) -> list[Check]:
    """One champion call per ticker and step, every as-of at or before its clock, no key twice."""
    clocks = set(steps[steps["event"] == STEP]["bar"])
    champion = journal[journal["role"] == "champion"]
    per_step = champion.groupby("journalled_at")["ticker"]
    counts = per_step.size()
    twice = int((per_step.nunique() != counts).sum())
    stepped = set(champion["journalled_at"]) == clocks
    late = int((journal["as_of"] > journal["journalled_at"]).sum())
    duplicated = int(journal.duplicated(list(KEY)).sum())
    span = f"{counts.min()} to {counts.max()}" if len(counts) else "none"
    return [
        Check(
            "one champion call per ticker and step",
            stepped and not twice and len(clocks) > 0,
            f"{len(clocks)} steps, {span} tickers a step, {twice} step(s) with a ticker twice"
            + ("" if stepped else "; the steps with calls are not the steps completed"),
        ),
        Check("every as-of at or before its clock", late == 0, f"{late} call(s) after it"),
        Check("no journal key twice", duplicated == 0, f"{duplicated} duplicated row(s)"),
    ]


def sampled_calls(journal: pd.DataFrame) -> pd.DataFrame:
    """The first and the last call of every registered model version."""
    rows = journal[journal["model_name"].astype("str") != ""].sort_values(["as_of", "ticker"])
    return pd.concat([g.iloc[[0, -1]] for _, g in rows.groupby("model_version")]).drop_duplicates(
        list(KEY)
    )


def predict_as_of(folder: Path, version: str, ticker: str, as_of: pd.Timestamp) -> dict:
    """What `updown predict --ticker T --as-of BAR --version V --json` answers in `folder` (run
    in this process: the command's own functions, its printed answer read back)."""
    argv = ["predict", "--ticker", ticker, "--as-of", as_of.isoformat(), "--json"]
    a = build_parser().parse_args([*argv, "--version", version])
    out = io.StringIO()
    with contextlib.chdir(folder), contextlib.redirect_stdout(out):
        params = load_params(a.params)
        answer_question(a, served(a, params, as_of))
    return dict(json.loads(out.getvalue().strip().splitlines()[-1]))


def predict_checks(folder: Path, journal: pd.DataFrame) -> list[Check]:
    calls = sampled_calls(journal)
    wrong = []
    for row in calls.itertuples():
        answer = predict_as_of(folder, str(row.model_version), str(row.ticker), row.as_of)
        same_bar = pd.Timestamp(answer["as_of"]) == row.as_of
        if not same_bar or answer["p_up"] != row.p_up:  # to the bit
            wrong.append(f"{row.ticker} {row.as_of} v{row.model_version}: {answer['p_up']!r}")
    pairs = len(calls[["model_version", "as_of"]].drop_duplicates())
    return [
        Check(
            "journalled P(up) = predict --as-of --version, to the bit",
            len(calls) > 0 and not wrong,
            f"{len(calls)} calls, {pairs} (version, bar) pairs"
            + (f"; differ: {'; '.join(wrong)}" if wrong else ""),
        )
    ]


def source_panel(params: Params, until: pd.Timestamp) -> pd.DataFrame:
    """The source's validated bars up to `until` (the last step's clock)."""
    cfg = dataclasses.replace(params.data, end=until.date())
    frames = get_fetch(cfg.source)(list(cfg.tickers), cfg)
    return validate_all({t: up_to(f, until) for t, f in frames.items()}, params.validate)[0]


def realised(journal: pd.DataFrame, panel: pd.DataFrame) -> pd.Series:
    """Each call's outcome from the bars: log(adjusted price at exit / at entry), entry the
    bar's close (`close`) or the next bar's (`next_open`, `next_close`), exit `horizon` bars
    after entry; NaN when the exit bar is not in `panel` yet."""
    out = pd.Series(np.nan, index=journal.index)
    for ticker, rows in journal.groupby("ticker"):
        bars = panel[panel["ticker"] == ticker].sort_values("timestamp")
        factor = (bars["adj_close"] / bars["close"]).to_numpy("float64")
        prices = {
            "open": bars["open"].to_numpy("float64") * factor,
            "close": bars["adj_close"].to_numpy("float64"),
        }
        stamps = pd.DatetimeIndex(pd.to_datetime(bars["timestamp"], utc=True))
        for i, row in rows.iterrows():
            as_of = pd.Timestamp(row["as_of"]).tz_convert("UTC")
            at = int(stamps.searchsorted(as_of))
            offset = 0 if row["entry"] == "close" else 1
            price = prices["open" if row["entry"] == "next_open" else "close"]
            j = at + offset + int(row["horizon"])
            if at < len(stamps) and stamps[at] == as_of and j < len(price):
                out[i] = math.log(price[j] / price[at + offset])
    return out


def figures_of(rows: pd.DataFrame) -> dict[str, float]:
    """hit rate, Brier, log loss and rank IC (mean Spearman over bars) of matured calls."""
    from scipy.stats import spearmanr

    up = rows["realised"] > 0
    p = rows["p_up"].clip(EPS, 1 - EPS)
    ics = [
        spearmanr(bar["p_up"], bar["realised"]).statistic
        for _, bar in rows.groupby("as_of")
        if bar["p_up"].nunique() > 1 and bar["realised"].nunique() > 1
    ]
    return {
        "rows": len(rows),
        "hit_rate": float(((rows["direction"] == "up") == up).mean()),
        "brier": float(((rows["p_up"] - up) ** 2).mean()),
        "log_loss": float(-(up * np.log(p) + ~up * np.log(1 - p)).mean()),
        "rank_ic_bars": len(ics),
        "rank_ic": float(np.mean(ics)) if ics else math.nan,
    }


def same(a: Any, b: Any) -> bool:
    if a is None or b is None:
        return (a is None or not math.isfinite(a)) and (b is None or not math.isfinite(b))
    return math.isclose(float(a), float(b), rel_tol=REL, abs_tol=1e-12)


def monitor_checks(folder: Path, journal: pd.DataFrame, params: Params) -> list[Check]:
    live = json.loads((folder / "reports" / "live.json").read_text())
    journal = journal.assign(
        realised=realised(journal, source_panel(params, journal["journalled_at"].max()))
    )
    differ, compared = [], 0
    for model in live["models"]:
        mine = journal[
            (journal["model_version"] == model["model_version"])
            & (journal["role"] == model["role"])
        ].dropna(subset=["realised"])
        shown = model["whole"]["figures"]
        if mine.empty:
            differ += [] if shown["rows"] == 0 else [f"{model['model_version']}: rows"]
            continue
        for key, value in figures_of(mine).items():
            if not same(shown[key], value):
                differ.append(
                    f"{model['model_version']} {model['role']} {key}: {shown[key]} vs {value}"
                )
        compared += 1
    return [
        Check(
            "monitor figures = recomputed from the journal",
            compared >= 1 and not differ,
            f"{compared} (version, role) pairs compared"
            + (f"; differ: {differ}" if differ else ""),
        )
    ]


def history_checks(folder: Path, journal: pd.DataFrame, params: Params) -> list[Check]:
    from mlflow import MlflowClient

    steps = loop_ledger(folder / "journal").read()
    retrains = int((steps["event"] == RETRAIN).sum())
    history = alias_history(folder / "journal").read()
    events = set(zip(history["alias"], history["event"], strict=True))
    gates = events & {("champion", "promoted"), ("champion", "kept")}
    uri = params.mlflow.tracking_uri
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    name = str(params.mlflow.registered_model)
    versions = client.search_model_versions(f"name = '{name}'")
    judged = [v.version for v in versions if v.tags.get("gate") in ("promoted", "kept")]
    experiment = client.get_experiment_by_name(f"{params.mlflow.experiment}-live")
    runs = client.search_runs([experiment.experiment_id]) if experiment else []
    roles = {r.data.tags.get("live_role") for r in runs}
    return [
        Check("a retrain after the first model", retrains >= 2, f"{retrains} pipeline runs"),
        Check(
            "a challenger shadowed the champion",
            ("challenger", "set") in events
            and bool((journal["role"] == "shadow").any())
            and "shadow" in roles,
            f"{int((journal['role'] == 'shadow').sum())} shadow calls, live runs of roles "
            f"{sorted(str(r) for r in roles)}",
        ),
        Check(
            "a gate decision in the alias history and MLflow",
            bool(gates) and bool(judged),
            f"history {sorted(e for _, e in gates)}, versions judged in MLflow {judged} of "
            f"{len(versions)}",
        ),
    ]


def audit(folder: Path) -> list[Check]:
    """Every check on the finished replay in `folder`."""
    params = load_params(folder / "params.yaml")
    journal = read_journal(folder / "journal")
    steps = loop_ledger(folder / "journal").read()
    parts: list[Callable[[], list[Check]]] = [
        lambda: call_checks(journal, steps),
        lambda: predict_checks(folder, journal),
        lambda: monitor_checks(folder, journal, params),
        lambda: history_checks(folder, journal, params),
    ]
    return [check for part in parts for check in part()]


def render(checks: list[Check]) -> list[str]:
    return [f"{'ok  ' if c.ok else 'FAIL'} {c.name}: {c.detail}" for c in checks]
