"""reports/live.html: live.json for a person. Per model version and role, the live figures
against the band the test period leads to expect, the rolling figures over time (charts, the
band shaded), the calibration of the live calls; the feature drift table; the alias history.
Self-contained (charts as inline SVG, no script, no network)."""

from __future__ import annotations

import html
import io
from typing import Any

import pandas as pd

CHARTED = ("hit_rate", "roc_auc")
OUTSIDE = "Live performance falls outside what the test period led to expect:"
CSS = """body{font-family:system-ui,sans-serif;max-width:70rem;margin:2rem auto;padding:0 1rem;
color:#222}table{border-collapse:collapse;margin:.5rem 0 1rem}td,th{border:1px solid #ccc;
padding:.2rem .5rem;text-align:right}th{background:#f3f3f3}td:first-child{text-align:left}
.worse{background:#fdd}.better{background:#dfd}.alert{background:#fff3cd;padding:.5rem 1rem;
border-left:4px solid #e0a800}"""


def _fmt(x: Any) -> str:
    if x is None:
        return "-"
    if isinstance(x, float):
        return f"{x:.4f}"
    return html.escape(str(x))


def _table(head: list[str], rows: list[list[Any]], classes: list[str] | None = None) -> str:
    cells = "".join(f"<th>{html.escape(h)}</th>" for h in head)
    body = "".join(
        f'<tr class="{(classes or [""] * len(rows))[i]}">'
        + "".join(f"<td>{_fmt(v)}</td>" for v in row)
        + "</tr>"
        for i, row in enumerate(rows)
    )
    return f"<table><tr>{cells}</tr>{body}</table>"


def _judged_table(judged: dict[str, dict[str, Any]]) -> str:
    rows, classes = [], []
    for name, e in judged.items():
        rows.append(
            [name.replace("_", " "), e["live"], e["n"], e["test"], e["lo"], e["hi"], e["status"]]
        )
        classes.append(e["status"].split(" ")[0] if "expected" in e["status"] else "")
    head = ["figure", "live", "calls", "test period", "band low", "band high", "status"]
    return _table(head, rows, classes)


def chart(series: pd.DataFrame, judged: dict[str, dict[str, Any]], title: str) -> str:
    """The rolling live figures over the as-of bars as an inline SVG, each with its expected
    band (for the window's size) shaded."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams["svg.hashsalt"] = "updown-live"
    fig, ax = plt.subplots(figsize=(8, 3))
    for name in CHARTED:
        ax.plot(pd.DatetimeIndex(series["as_of"]), series[name], label=name.replace("_", " "))
        e = judged.get(name, {})
        if e.get("lo") is not None and e.get("hi") is not None:
            ax.axhspan(e["lo"], e["hi"], alpha=0.12, color=ax.lines[-1].get_color())
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=8)
    out = io.StringIO()
    fig.savefig(out, format="svg", metadata={"Date": None})
    plt.close(fig)
    svg = out.getvalue()
    return svg[svg.index("<svg") :]  # without the XML prolog and DOCTYPE


def model_section(entry: dict[str, Any], series: pd.DataFrame | None, window: int) -> str:
    name = entry["model_name"] or "model file"
    head = f"<h2>{_fmt(name)} {_fmt(entry['model_version'])} ({_fmt(entry['role'])})</h2>"
    text = (
        f"<p>{entry['calls']} calls journalled, {entry['matured']} matured "
        f"(run {_fmt(entry['run_id'])}).</p>"
    )
    parts = [head, text, "<h3>Whole journal</h3>", _judged_table(entry["whole"]["judged"])]
    parts += [f"<h3>Last {window} bars</h3>", _judged_table(entry["window"]["judged"])]
    if series is not None and len(series) > 1:
        parts.append(chart(series, entry["window"]["judged"], f"rolling {window}-bar figures"))
    if entry.get("calibration"):
        rows = [[c["p_up"], c["up_rate"], c["rows"]] for c in entry["calibration"]]
        parts += ["<h3>Calibration</h3>", _table(["mean P(up)", "went up", "calls"], rows)]
    return "\n".join(parts)


def drift_section(drift: dict[str, Any] | None) -> str:
    if not drift:
        return ""
    untestable = set(drift.get("untestable", []))
    rows = [
        [
            n,
            v,
            drift["noise"].get(n),
            "drifted" if n in drift["drifted"] else "untestable" if n in untestable else "",
        ]
        for n, v in list(drift["psi"].items())[:25]
    ]
    slow = (
        f" {len(untestable)} feature(s) move too slowly to judge on so few bars (less than one "
        "effective row per bin): untestable, not stable."
        if untestable
        else ""
    )
    return (
        f"<h2>Feature drift</h2><p>PSI of the last bars ({drift['recent_rows']} rows) against "
        f"the training block ({drift['train_rows']} rows); flagged above {drift['threshold']} "
        "plus each feature's sampling noise (from its effective rows: bar-to-bar "
        f"autocorrelation counted).{slow} The 25 largest:</p>"
        + _table(["feature", "PSI", "noise", ""], rows)
    )


def history_section(history: pd.DataFrame) -> str:
    cols = ["time", "model_name", "alias", "from_version", "to_version", "event", "reason"]
    rows = [[str(r[c]) for c in cols] for r in history.to_dict("records")]
    return "<h2>Alias history</h2>" + (_table(cols, rows) if rows else "<p>No alias moves yet.</p>")


def render_live(
    live: dict[str, Any], series: dict[tuple[str, str, str], pd.DataFrame], history: pd.DataFrame
) -> str:
    """The page (see the module's docstring); `series`: step_series per (name, version, role)."""
    alerts = "".join(f'<p class="alert">{html.escape(a)}</p>' for a in live["alerts"])
    sections = [
        model_section(
            m,
            series.get((m["model_name"], m["model_version"], m["role"])),
            live["window_bars"],
        )
        for m in live["models"]
    ]
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>updown: live</title>"
        f"<style>{CSS}</style></head><body><h1>Live: the journal against what happened</h1>"
        f"<p>{html.escape(live['summary'] if not live['alerts'] else OUTSIDE)}</p>"
        f"{alerts}{''.join(sections)}"
        f"{drift_section(live.get('drift'))}{history_section(history)}</body></html>\n"
    )
