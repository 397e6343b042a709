"""A sweep's summary: every configuration's validation score, the winner's test figures (scored
once), and what trying N configurations does to the confidence in them. Pure: dicts in, dicts
and HTML out."""

from __future__ import annotations

import html
from typing import Any

import numpy as np

from updown.assess.metrics import METRICS
from updown.assess.sharpe import SharpeMoments, deflated_sharpe, probabilistic_sharpe
from updown.errors import UpdownError
from updown.sweep.select import choose, deflated_score

MOMENT_KEYS = ("sharpe_per_bar", "bars", "skew", "kurtosis")


def headline(metrics: dict[str, Any], where: str) -> tuple[str, float]:
    """The headline metric's name and the model's value in one configuration's metrics.json."""
    name = metrics.get("headline")
    if name not in METRICS:
        raise UpdownError(f"{where}: metrics.json names no headline metric: rerun evaluate")
    value = metrics.get("model", {}).get(name)
    return str(name), float(value) if value is not None else float("nan")


def backtest_figures(metrics: dict[str, Any], contender: str = "model") -> dict[str, Any]:
    """A contender's backtest figures, wherever metrics.json keeps them."""
    nested = metrics.get("backtest")
    if isinstance(nested, dict) and isinstance(nested.get(contender), dict):
        return dict(nested[contender])
    return dict(metrics.get(f"backtest_{contender}", {}))


def sharpe_moments(metrics: dict[str, Any]) -> SharpeMoments | None:
    """The model backtest's per-bar Sharpe and moments, if evaluate recorded them."""
    figures = backtest_figures(metrics)
    if any(figures.get(k) is None for k in MOMENT_KEYS):
        return None
    return SharpeMoments(
        sharpe=float(figures["sharpe_per_bar"]),
        bars=int(figures["bars"]),
        skew=float(figures["skew"]),
        kurtosis=float(figures["kurtosis"]),
    )


def _deflated_sharpe(final: dict[str, Any], candidates: list[dict[str, Any]]) -> dict[str, Any]:
    m = sharpe_moments(final)
    if m is None:
        return {"dsr": None, "psr": None, "why": "the backtest recorded no Sharpe moments"}
    trial_sharpes = [backtest_figures(c).get("sharpe_per_bar") for c in candidates]
    values = np.array([np.nan if s is None else s for s in trial_sharpes], dtype=np.float64)
    return {
        "psr": probabilistic_sharpe(m),
        "dsr": deflated_sharpe(m, len(candidates), values),
        "why": None,
    }


def validation_scores(candidates: list[dict[str, Any]], ids: list[str]) -> tuple[str, list[float]]:
    """The headline's name and every configuration's validation score (`candidates`: their
    validation-block metrics.json, which must all be validation-block figures)."""
    for c, i in zip(candidates, ids, strict=True):
        if c.get("scored_block") != "validation":
            raise UpdownError(f"sweep: {i}'s metrics are not validation-block figures")
    name, _ = headline(candidates[0], ids[0])
    return name, [headline(c, i)[1] for c, i in zip(candidates, ids, strict=True)]


def winner(candidates: list[dict[str, Any]], ids: list[str]) -> int:
    """The index of the winning configuration: validation scores in, nothing else."""
    name, scores = validation_scores(candidates, ids)
    return choose(scores, METRICS[name].higher_is_better)


def summarise(
    sweep: str,
    configs: list[dict[str, Any]],
    ids: list[str],
    candidates: list[dict[str, Any]],
    final: dict[str, Any],
) -> dict[str, Any]:
    """The summary: `candidates` are the configurations' validation-block metrics, `final` the
    winner's test-block metrics."""
    name, scores = validation_scores(candidates, ids)
    higher = METRICS[name].higher_is_better
    best = winner(candidates, ids)
    if final.get("scored_block") != "test":
        raise UpdownError("sweep: the winner's final metrics are not test-block figures")
    boot = final.get(f"bootstrap_{name}", {})
    return {
        "sweep": sweep,
        "headline": name,
        "higher_is_better": higher,
        "configurations": [
            {"id": i, "settings": c, "validation": s}
            for i, c, s in zip(ids, configs, scores, strict=True)
        ],
        "winner": ids[best],
        "winner_settings": configs[best],
        "winner_validation": scores[best],
        "winner_validation_deflated": deflated_score(scores, best, higher),
        "winner_test": headline(final, "the winner's test run")[1],
        "winner_test_lo": boot.get("model_lo"),
        "winner_test_hi": boot.get("model_hi"),
        "trials": len(configs),
        **_deflated_sharpe(final, candidates),
    }


def _num(x: Any) -> str:
    return "n/a" if x is None or (isinstance(x, float) and not np.isfinite(x)) else f"{x:.4f}"


def reading(s: dict[str, Any]) -> str:
    """The summary in words."""
    interval = (
        f" (95% interval {_num(s['winner_test_lo'])} to {_num(s['winner_test_hi'])})"
        if s["winner_test_lo"] is not None
        else " (no interval: see its report)"
    )
    luck = (
        f" After {s['trials']} configurations on this data, the chance that the winner's "
        f"backtest Sharpe is luck is {_num(1.0 - s['dsr'])} (Deflated Sharpe Ratio "
        f"{_num(s['dsr'])}; {_num(s['psr'])} before deflation)."
        if s["dsr"] is not None
        else f" No Deflated Sharpe Ratio: {s['why']}."
    )
    return (
        f"{s['trials']} configurations were scored on the validation block; {s['winner']} had the "
        f"best {s['headline']} there, {_num(s['winner_validation'])}, or "
        f"{_num(s['winner_validation_deflated'])} after taking off what picking the best of "
        f"{s['trials']} adds by luck. Scored once on the untouched test block, it reached "
        f"{_num(s['winner_test'])}{interval}.{luck}"
    )


def render(s: dict[str, Any]) -> str:
    """The summary page: the reading, then one row per configuration, the winner marked."""
    rows = "".join(
        f"<tr{' class=winner' if c['id'] == s['winner'] else ''}><td>{html.escape(c['id'])}</td>"
        f"<td>{html.escape(', '.join(f'{k}={v}' for k, v in c['settings'].items()))}</td>"
        f"<td>{_num(c['validation'])}</td></tr>"
        for c in s["configurations"]
    )
    return f"""<!doctype html><html><head><meta charset="utf-8">
<title>updown sweep {html.escape(s["sweep"])}</title>
<style>body{{font-family:sans-serif;max-width:60em;margin:2em auto}}td,th{{padding:.2em .8em}}
tr.winner{{font-weight:bold;background:#e8f4e8}}</style></head><body>
<h1>Sweep {html.escape(s["sweep"])}</h1>
<p id="reading">{html.escape(reading(s))}</p>
<p>The winner is chosen by the validation {html.escape(s["headline"])} alone; no configuration
was scored on the test block before the choice, and only the winner was, once.</p>
<table><tr><th>configuration</th><th>settings</th><th>validation {html.escape(s["headline"])}</th></tr>
{rows}</table></body></html>
"""
