"""A self-contained HTML page: metrics table, verdict against baselines, embedded plots."""

from __future__ import annotations

import base64
import html
from pathlib import Path
from typing import Any


def verdict(metrics: dict[str, Any], key: str = "roc_auc") -> list[str]:
    """Plain sentences: does the model beat each baseline on `key`?"""
    model = metrics["model"][key]
    lines = []
    for name in sorted(k for k in metrics if k.startswith("baseline_")):
        base = metrics[name][key]
        if model is None or base is None:
            lines.append(f"{name.removeprefix('baseline_')}: {key} undefined on the test block.")
            continue
        word = "beats" if model > base else "does not beat"
        lines.append(
            f"The model {word} the {name.removeprefix('baseline_')} baseline on {key}: "
            f"{model:.4f} vs {base:.4f}."
        )
    return lines


def render_report(metrics: dict[str, Any], pngs: dict[str, Path], title: str) -> str:
    rows = []
    names = ["model", *sorted(k for k in metrics if k.startswith("baseline_"))]
    cols = ["accuracy", "balanced_accuracy", "roc_auc", "log_loss", "brier"]
    for name in names:
        cells = "".join(f"<td>{_fmt(metrics[name].get(c))}</td>" for c in cols)
        rows.append(f"<tr><th>{html.escape(name)}</th>{cells}</tr>")
    head = "".join(f"<th>{c}</th>" for c in cols)
    verdicts = "".join(f"<li>{html.escape(v)}</li>" for v in verdict(metrics))
    figs = "".join(
        f'<figure><img alt="{html.escape(n)}" src="data:image/png;base64,'
        f'{base64.b64encode(p.read_bytes()).decode()}"><figcaption>{html.escape(n)}</figcaption></figure>'
        for n, p in pngs.items()
    )
    t = metrics["test"]
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>body{{font-family:sans-serif;max-width:1000px;margin:2em auto}}table{{border-collapse:collapse}}
td,th{{border:1px solid #ccc;padding:4px 8px;text-align:right}}figure{{display:inline-block;margin:1em}}
img{{max-width:460px}}</style></head><body>
<h1>{html.escape(title)}</h1>
<p>Test block: {t["rows"]} rows over {t["tickers"]} ticker(s); share of "up" labels {_fmt(t["up_rate"])}.</p>
<h2>Metrics (test block)</h2><table><tr><th></th>{head}</tr>{"".join(rows)}</table>
<h2>Verdict</h2><ul>{verdicts}</ul>
<h2>Plots</h2>{figs}
</body></html>
"""


def _fmt(x: Any) -> str:
    return "n/a" if x is None else f"{x:.4f}" if isinstance(x, float) else html.escape(str(x))
