"""Params and metrics as MLflow takes them: every key of params.yaml as a dotted param, every
number of metrics.json as a metric (numbers in lists and per-fold records as step metrics), and
the loss curves as one step per boosting round; names MLflow refuses are cleaned.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

import pandas as pd

from updown.assess.headline import headline
from updown.redact import scrub

# MLflow also allows "/", but then refuses names that look like relative paths: keep none.
_NAME_BAD = re.compile(r"[^A-Za-z0-9_\-. :]")
MAX_PARAM_VALUE = 6000
_FOLD_KEY = re.compile(r"^fold_?(\d+)$")


def flatten(tree: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """{'a': {'b': 1}} -> {'a.b': 1}; lists and empty mappings stay whole values."""
    out: dict[str, Any] = {}
    for key, value in tree.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            out.update(flatten(value, f"{name}."))
        else:
            out[name] = value
    return out


def safe_name(name: str) -> str:
    """An MLflow param or metric name: characters MLflow refuses (like ^ in ^GSPC) become _."""
    cleaned = re.sub(r"\.{2,}", ".", _NAME_BAD.sub("_", name)).strip(" .")
    return cleaned[:250] or "_"


def param_value(value: Any) -> str:
    """A param value as YAML would show it: strings as is, anything else as JSON."""
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return text if len(text) <= MAX_PARAM_VALUE else text[: MAX_PARAM_VALUE - 3] + "..."


def params_to_log(raw: dict[str, Any], secrets: list[str]) -> dict[str, str]:
    """Every key of params.yaml as a dotted name, credentials redacted; names MLflow would
    refuse are cleaned, and a clash after cleaning gets a numbered suffix."""
    out: dict[str, str] = {}
    for key, value in flatten(raw).items():
        name, n = safe_name(key), 2
        while name in out:
            name, n = f"{safe_name(key)}_{n}", n + 1
        out[name] = scrub(param_value(value), secrets)
    return out


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def metrics_to_log(
    tree: dict[str, Any],
) -> tuple[dict[str, float], list[tuple[str, float, int]]]:
    """Every number in metrics.json: scalars under dotted names; numbers inside lists as step
    metrics (a list of per-fold records steps by its `fold` field, else by position); and the
    numbers under top-level fold_<k> keys also as fold.<name> at step k, so the UI charts a
    metric across walk-forward folds."""
    scalars: dict[str, float] = {}
    steps: list[tuple[str, float, int]] = []

    def walk(node: Any, name: str, step: int | None) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                walk(value, f"{name}.{key}" if name else str(key), step)
        elif isinstance(node, list):
            for i, item in enumerate(node):
                at = i
                if isinstance(item, dict) and _number(item.get("fold")) is not None:
                    at = int(item["fold"])
                walk(item, name, at if step is None else step)
        else:
            number = _number(node)
            if number is None:
                return
            if step is None:
                scalars[safe_name(name)] = number
            else:
                steps.append((safe_name(name), number, step))

    walk(tree, "", None)
    for key, value in tree.items():
        fold = _FOLD_KEY.match(str(key))
        if fold and isinstance(value, dict):
            inner, _ = metrics_to_log(value)
            steps += [(safe_name(f"fold.{k}"), v, int(fold[1])) for k, v in inner.items()]
    return scalars, steps


def curve_to_log(curve: pd.DataFrame) -> list[tuple[str, float, int]]:
    """Loss per boosting round as step metrics: every numeric column but the round (and fold)
    keeps its name for the deployed (last) fold; with several folds each also logs as
    fold<k>.<column>."""
    step_col = "iteration" if "iteration" in curve.columns else None
    values = [
        c
        for c in curve.columns
        if c not in ("iteration", "fold") and pd.api.types.is_numeric_dtype(curve[c])
    ]
    out: list[tuple[str, float, int]] = []
    folds = sorted(curve["fold"].unique()) if "fold" in curve.columns else [None]
    for fold in folds:
        part = curve if fold is None else curve[curve["fold"] == fold]
        steps = part[step_col].astype(int) if step_col else pd.Series(range(1, len(part) + 1))
        names = [(c, c) for c in values] if fold is None or fold == folds[-1] else []
        if fold is not None and len(folds) > 1:
            names += [(c, f"fold{fold}.{c}") for c in values]
        for col, name in names:
            for step, value in zip(steps, part[col], strict=True):
                number = _number(value)
                if number is not None:
                    out.append((safe_name(name), number, int(step)))
    return out


# The run's headline figures as one chart section that sorts before every other metric: the
# UI's compare view plots the first metric name in code-point order by default, and its chart
# view puts sections ("<section>/<name>") before the unsectioned metrics, each sorted by name.
HEADLINE_SECTION = "Headline"
# In the run name: keys already named by the kind/horizon/tickers part, or not part of a result.
_NAMED_KEYS = ("label.kind", "label.horizon", "data.tickers")
MAX_RUN_NAME = 100


def headline_metrics(tree: dict[str, Any]) -> dict[str, float]:
    """The figures of headline.json (updown.assess.headline: the model's bootstrapped headline
    metric, its interval, the verdict against each contender) as `Headline/<name>`,
    `Headline/<name>_lo`, `_hi` and `Headline/verdict_<contender>`."""
    try:
        figures = headline(tree)
    except ValueError:
        return {}
    flat = {**figures["model"], **{f"verdict_{k}": v for k, v in figures["verdict"].items()}}
    out = {}
    for key, value in flat.items():
        number = _number(value)
        if number is not None:
            out[f"{HEADLINE_SECTION}/{safe_name(key)}"] = number
    return out


def changed_params(
    raw: dict[str, Any], baseline: dict[str, Any] | None
) -> dict[str, dict[str, str | None]]:
    """The dotted params whose value differs from `baseline` (the committed params.yaml), with
    both values as YAML would show them (None: absent there); mlflow.* left out (where a run is
    logged is not part of it). Sorted by key; empty when `baseline` is None."""
    now, before = flatten(raw), flatten(baseline or raw)
    keys = sorted(
        k
        for k in now.keys() | before.keys()
        if now.get(k) != before.get(k) and not k.startswith("mlflow.")
    )
    return {
        k: {
            "committed": param_value(before[k]) if k in before else None,
            "now": param_value(now[k]) if k in now else None,
        }
        for k in keys
    }


def run_name(raw: dict[str, Any], baseline: dict[str, Any] | None) -> str:
    """`<label kind> h<horizon> <tickers, or their count past 3> <key=value ...>`: the params
    that differ from `baseline` (the committed params.yaml), by leaf name unless two share
    one, mlflow.* left out; short and the same for the same params, whoever runs the stage."""
    label, tickers = raw.get("label", {}), list(raw.get("data", {}).get("tickers", []))
    shown = ",".join(map(str, tickers)) if len(tickers) <= 3 else f"{len(tickers)} tickers"
    head = f"{label.get('kind', '?')} h{label.get('horizon', '?')} {shown}"
    now = flatten(raw)
    changed = [k for k in changed_params(raw, baseline) if k not in _NAMED_KEYS]
    leaves = [k.rsplit(".", 1)[-1] for k in changed]
    parts = []
    for key, leaf in zip(changed, leaves, strict=True):
        label_of = leaf if leaves.count(leaf) == 1 else key
        parts.append(f"{label_of}={param_value(now.get(key))[:24]}")
    name = head
    for i, part in enumerate(parts):
        left = len(parts) - i - 1
        tail = f" +{left} more" if left else ""
        if len(name) + 1 + len(part) + len(tail) > MAX_RUN_NAME:
            return f"{name} +{left + 1} more"
        name += f" {part}"
    return name
