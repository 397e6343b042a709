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
    metrics.json's `headline` (else its one `bootstrap_<name>` section), `model` and `verdict`
    (missing values left out, as in metrics.json when there is no interval). MLflow's
    `Headline/*` metrics are these figures too (updown.serve.mlflow_values)."""
    boots = sorted(k.removeprefix("bootstrap_") for k in metrics if k.startswith("bootstrap_"))
    name = metrics.get("headline") or (boots[0] if boots else None)
    if not isinstance(name, str) or not isinstance(metrics.get("model"), dict):
        raise ValueError("metrics hold no headline metric (no `headline`, no bootstrap_<name>)")
    interval = metrics.get(f"bootstrap_{name}")
    interval = interval if isinstance(interval, dict) else {}
    figures = {
        name: metrics["model"].get(name),
        f"{name}_lo": interval.get("model_lo"),
        f"{name}_hi": interval.get("model_hi"),
    }
    model = {k: v for k, v in figures.items() if isinstance(v, int | float)}
    verdicts = metrics.get("verdict")
    verdict = dict(sorted(verdicts.items())) if isinstance(verdicts, dict) else {}
    return {"model": model, "verdict": verdict}
