"""The monitor's core: journalled calls against what happened, next to what the test period
led to expect.

A journal row matures once the price panel holds its exit bar: its realised outcome is the
tradable forward return of updown.returns.forward_returns with the row's label entry and
horizon, the return its label measures. Per model version and role, the live figures
(updown.live.figures) are computed over every matured call and over the last
`monitor.window_bars` as-of bars, and each is set against the test period's figure in the
version's metrics.json. The expected band of a live figure over n calls: the test period's
bootstrap interval (for the bootstrapped headline metric) widened by sqrt(n_test / n), or, for
the hit rate, the binomial interval p +- 1.96 sqrt(p (1 - p) / n) around the test accuracy.
Figures with neither are shown beside the test figure without a verdict, and so is any figure
from fewer than `monitor.min_matured` calls. Pure: tables and dicts in, a dict out.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from updown.live.figures import LIVE_METRICS, LiveMetric, live_figures
from updown.returns import forward_returns

Z = 1.959964  # the two-sided 95 % normal quantile
GROUP = ["model_name", "model_version", "role"]
VERDICTS = ("as expected", "worse than expected", "better than expected")


def _utc_ns(values: pd.Series) -> pd.Series:
    return pd.to_datetime(values, utc=True).astype("datetime64[ns, UTC]")


def with_outcomes(journal: pd.DataFrame, panel: pd.DataFrame) -> pd.DataFrame:
    """The journal with `realised` (forward log return from the label's entry over its
    horizon) and `outcome_at` (its exit bar), NaN / NaT for calls not matured yet."""
    out = journal.assign(as_of=_utc_ns(journal["as_of"]), realised=np.nan)
    out["outcome_at"] = pd.Series(pd.NaT, index=out.index, dtype="datetime64[ns, UTC]")
    for (entry, horizon), rows in out.groupby(["entry", "horizon"], sort=True):
        realised, end = forward_returns(panel, str(entry), int(horizon))
        # `.array`, not `.to_numpy()`: a zoned time column would become an object array of
        # Timestamps, which cost most of a step's monitor on the S&P folder's panel.
        known = pd.DataFrame(
            {
                "ticker": panel["ticker"].astype("str").to_numpy(),
                "as_of": _utc_ns(panel["timestamp"]).array,
                "realised": realised.to_numpy("float64"),
                "outcome_at": _utc_ns(end).array,
            }
        )
        joined = rows[["ticker", "as_of"]].merge(known, on=["ticker", "as_of"], how="left")
        out.loc[rows.index, "realised"] = joined["realised"].to_numpy()
        out.loc[rows.index, "outcome_at"] = joined["outcome_at"].array
    return out


def matured(journal: pd.DataFrame, panel: pd.DataFrame) -> pd.DataFrame:
    """Matured calls with their outcome and `score` (P(up), or the predicted return)."""
    rows = with_outcomes(journal, panel)
    rows = rows[rows["realised"].notna() & rows["outcome_at"].notna()]
    score = rows["p_up"].where(rows["p_up"].notna(), rows["predicted_return"])
    return rows.assign(score=score).reset_index(drop=True)


def last_bars_of(rows: pd.DataFrame, bars: int) -> pd.DataFrame:
    """The rows of the last `bars` distinct as-of bars."""
    keep = np.sort(rows["as_of"].unique())[-bars:]
    return rows[rows["as_of"].isin(keep)]


def expected_band(
    metric: LiveMetric, n: int, metrics: dict[str, Any]
) -> tuple[float, float, float] | None:
    """(test figure, lo, hi) a live figure over `n` calls (bars, for the rank IC) should fall
    in if the model performs as in the test period; None when the test gives no interval."""
    test = metrics.get("model", {}).get(metric.test_name)
    if test is None or n < 1:
        return None
    boot = metrics.get(f"bootstrap_{metric.test_name}", {})
    rows = metrics.get("test", {})
    n_test = rows.get("bars" if metric.name == "rank_ic" else "rows")
    if "model_lo" in boot and "model_hi" in boot and n_test:
        widen = math.sqrt(n_test / n)
        lo = test - (test - boot["model_lo"]) * widen
        hi = test + (boot["model_hi"] - test) * widen
        return float(test), float(lo), float(hi)
    if metric.name == "hit_rate":
        half = Z * math.sqrt(test * (1 - test) / n)
        return float(test), float(test - half), float(test + half)
    return float(test), math.nan, math.nan


def calibration(rows: pd.DataFrame, bins: int = 5) -> list[dict[str, float]]:
    """Calibration of the live calls: equal-count bins of P(up), each with its mean P(up) and
    the share that went up (empty for a regression model or no matured call)."""
    p = rows["p_up"].to_numpy("float64")
    if len(p) == 0 or not np.isfinite(p).all():
        return []
    order = np.argsort(p, kind="stable")
    up = (rows["realised"].to_numpy("float64") > 0)[order]
    return [
        {
            "p_up": float(p[order][chunk].mean()),
            "up_rate": float(up[chunk].mean()),
            "rows": len(chunk),
        }
        for chunk in np.array_split(np.arange(len(p)), min(bins, len(p)))
    ]


def judge(
    figures: dict[str, Any], metrics: dict[str, Any] | None, min_matured: int
) -> dict[str, dict[str, Any]]:
    """Each live figure beside its test figure and band, with a status: as expected, worse
    than expected, better than expected, no band, too few calls, no test figure."""
    out: dict[str, dict[str, Any]] = {}
    for metric in LIVE_METRICS.values():
        live = figures[metric.name]
        n = int(figures["rank_ic_bars"] if metric.name == "rank_ic" else figures["rows"])
        band = expected_band(metric, n, metrics) if metrics else None
        entry: dict[str, Any] = {"live": live, "n": n, "test": None, "lo": None, "hi": None}
        if not math.isfinite(live):
            entry["status"] = "undefined"
        elif band is None:
            entry["status"] = "no test figure"
        else:
            entry["test"], entry["lo"], entry["hi"] = band
            if not (math.isfinite(band[1]) and math.isfinite(band[2])):
                entry["status"] = "no band"
            elif n < min_matured:
                entry["status"] = "too few calls"
            elif band[1] <= live <= band[2]:
                entry["status"] = "as expected"
            else:
                good = (live > band[2]) == metric.higher_is_better
                entry["status"] = "better than expected" if good else "worse than expected"
        out[metric.name] = entry
    return out


def alerts_of(label: str, span: str, judged: dict[str, dict[str, Any]]) -> list[str]:
    """One plain sentence per figure outside its band."""
    out = []
    for name, e in judged.items():
        if e["status"] in ("worse than expected", "better than expected"):
            out.append(
                f"{label}: live {name.replace('_', ' ')} {e['live']:.4f} over {e['n']} "
                f"{'bars' if name == 'rank_ic' else 'calls'} ({span}) is {e['status']}: the test "
                f"period ({e['test']:.4f}) leads to expect {e['lo']:.4f} to {e['hi']:.4f}"
            )
    return out


def monitor(
    journal: pd.DataFrame,
    panel: pd.DataFrame,
    expected: dict[str, dict[str, Any]],
    window_bars: int,
    min_matured: int,
    rows: pd.DataFrame | None = None,
) -> dict[str, Any]:
    """reports/live.json: per model version and role, the live figures over the whole journal
    and the last `window_bars` bars, judged against `expected` (metrics.json per version).
    `rows`: matured(journal, panel), when the caller has it already."""
    rows = matured(journal, panel) if rows is None else rows
    models, alerts, verdicts = [], [], 0
    for key, group in journal.groupby(GROUP, sort=True):
        name, version, role = (str(k) for k in key)
        mine = (rows["model_name"] == name) & (rows["model_version"] == version)
        done = rows[mine & (rows["role"] == role)]
        label = f"{name or 'model file'} {version} ({role})"
        spans = {"whole": done, "window": last_bars_of(done, window_bars)}
        entry: dict[str, Any] = {
            "model_name": name,
            "model_version": version,
            "role": role,
            "run_id": str(group["run_id"].iloc[-1]),
            "calls": len(group),
            "matured": len(done),
            "has_test_figures": version in expected,
        }
        for span, part in spans.items():
            figures = live_figures(part)
            judged = judge(figures, expected.get(version), min_matured)
            first = part["as_of"].min() if len(part) else None
            last = part["as_of"].max() if len(part) else None
            entry[span] = {"from": first, "to": last, "figures": figures, "judged": judged}
            where = "whole journal" if span == "whole" else f"last {window_bars} bars"
            alerts += alerts_of(label, where, judged)
            verdicts += sum(e["status"] in VERDICTS for e in judged.values())
        entry["calibration"] = calibration(done)
        models.append(entry)
    return clean(
        {
            "journal_rows": len(journal),
            "matured_rows": len(rows),
            "window_bars": window_bars,
            "min_matured": min_matured,
            "models": models,
            "alerts": alerts,
            "summary": summary(len(journal), len(rows), alerts, verdicts),
        }
    )


def with_drift(live: dict[str, Any], drift: dict[str, Any]) -> dict[str, Any]:
    """live.json with the feature drift (updown.live.drift) and an alert naming the features
    whose PSI passes the threshold."""
    alerts = list(live["alerts"])
    if drift["drifted"]:
        shown = ", ".join(f"{n} {drift['psi'][n]:.2f}" for n in drift["drifted"][:8])
        more = f" and {len(drift['drifted']) - 8} more" if len(drift["drifted"]) > 8 else ""
        alerts.append(
            f"feature drift: {len(drift['drifted'])} feature(s) have a PSI above "
            f"{drift['threshold']} plus their sampling noise over the last {live['window_bars']} "
            f"bars against the training block: {shown}{more}"
        )
    text = live["summary"]
    if drift["drifted"]:
        text = f"{text} F{alerts[-1][1:]}."
    return clean({**live, "drift": drift, "alerts": alerts, "summary": text})


def summary(calls: int, matured_calls: int, alerts: list[str], verdicts: int) -> str:
    """What live.json says, in one paragraph."""
    if not calls:
        return "The journal is empty: run updown predict first."
    head = f"{calls} calls journalled, {matured_calls} matured."
    if not alerts and not verdicts:
        return f"{head} Too few matured calls to judge live performance yet."
    if not alerts:
        return f"{head} Live performance is within what the test period led to expect."
    return f"{head} Live performance falls outside what the test period led to expect: " + (
        "; ".join(alerts) + "."
    )


def clean(obj: Any) -> Any:
    """JSON-ready: NaN as null, timestamps as ISO 8601 text, numpy scalars as Python numbers."""
    if isinstance(obj, dict):
        return {k: clean(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [clean(v) for v in obj]
    if isinstance(obj, pd.Timestamp):
        return obj.isoformat()
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj
