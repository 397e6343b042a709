"""The few figures that say how a run did: DVC's declared metrics (`headline.json`).

`reports/metrics.json` holds every number (about 150); `dvc exp show` and `dvc metrics diff`
would show them all, one column each. The headline is the bootstrapped metric of the model
(`evaluate.headline`), its interval and the verdict against each baseline: the same figures as
MLflow's `Headline/*` metrics. It is small and committed (DVC `cache: false`), so a fresh
clone has a baseline for `dvc metrics diff`.
"""

from __future__ import annotations

from typing import Any


def headline(metrics: dict[str, Any]) -> dict[str, dict[str, float]]:
    """{"model": {<name>, <name>_lo, <name>_hi}, "verdict": {<baseline>: 1 | 0 | -1}} from
    metrics.json's `model`, `bootstrap_<name>` and `verdict` sections (missing values left out,
    as in metrics.json when there is no interval)."""
    boots = sorted(k for k in metrics if k.startswith("bootstrap_"))
    if not boots:
        raise ValueError("metrics hold no bootstrap_<name> section: no headline metric")
    name = boots[0].removeprefix("bootstrap_")
    interval = metrics[boots[0]]
    figures = {
        name: metrics["model"].get(name),
        f"{name}_lo": interval.get("model_lo"),
        f"{name}_hi": interval.get("model_hi"),
    }
    model = {k: v for k, v in figures.items() if isinstance(v, int | float)}
    verdict = {k: v for k, v in sorted(metrics.get("verdict", {}).items())}
    return {"model": model, "verdict": verdict}
