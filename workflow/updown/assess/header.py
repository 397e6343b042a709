"""The report's header: which MLflow run, code commit, data snapshot and params the result
belongs to, every block's dates, and how many configurations were tried on the same data and
test block (with the Deflated Sharpe Ratio that number implies).

evaluate writes the body (reports/evaluation.html) without knowing any of this: the run id and
the trial count exist only once the track stage has talked to MLflow. The track stage composes
reports/report.html = body + this header, from reports/mlflow_run.json's facts and metrics.json,
with `compose_report`: pure, so the page logged to the run and the file on disk are the same
bytes.
"""

from __future__ import annotations

import html
from collections.abc import Mapping
from typing import Any

from updown.assess.deflation import (
    Deflated,
    TrialCount,
    confidence_sentence,
    deflate,
    luck_sentence,
)
from updown.contract import REPORT_HEADER_SLOT

SLOT = REPORT_HEADER_SLOT  # after the page's title and first lines
BLOCK_NAMES = {"train": "train", "valid": "validation", "test": "test"}


def _esc(x: Any) -> str:
    return html.escape(str(x), quote=True)


def _num(x: float | None, digits: int = 3) -> str:
    return "n/a" if x is None else f"{x:.{digits}f}"


def _when(iso: str, daily: bool) -> str:
    """A block boundary: the date for daily bars, date and time (UTC offset kept) otherwise."""
    return iso[:10] if daily else iso[:16].replace("T", " ") + iso[19:]


def trials_of(run: Mapping[str, Any]) -> TrialCount:
    """The trial count mlflow_run.json records."""
    block = run.get("test_block")
    return TrialCount(
        count=int(run.get("trials", 1)),
        sharpes=tuple(run.get("trial_sharpes_per_bar", ())),
        data_sha256=str(run.get("data_sha256", "")),
        test_block=(block[0], block[1]) if block else None,
    )


def _run_rows(run: Mapping[str, Any]) -> list[tuple[str, str]]:
    url = run.get("run_url") or ""
    where = (
        f'<a href="{_esc(url)}">{_esc(url)}</a>'
        if url
        else f"in {_esc(run.get('tracking_uri', '?'))} (open it with <code>make ui</code>)"
    )
    dirty = run.get("git_dirty")
    state = {"true": " with uncommitted changes", "false": " (clean)"}.get(str(dirty), "")
    return [
        (
            "MLflow run",
            f'<b>{_esc(run.get("run_name", ""))}</b>, id <code id="run-id">'
            f"{_esc(run['run_id'])}</code>, experiment {_esc(run.get('experiment', ''))}, " + where,
        ),
        (
            "Code",
            f'commit <code id="commit">{_esc(run.get("git_commit", "unknown"))}</code>{state}',
        ),
        (
            "Data snapshot",
            "SHA-256 of data/interim/prices.parquet "
            f'<code id="data-hash">{_esc(run.get("data_sha256", "unknown"))}</code>',
        ),
    ]


def _params_block(changed: Mapping[str, Any] | None) -> str:
    if changed is None:
        return "<p>Params: no committed params.yaml to compare with.</p>"
    if not changed:
        return "<p>Params: the committed params.yaml, unchanged.</p>"
    rows = "".join(
        f'<tr><td class="l"><code>{_esc(k)}</code></td><td class="l">{_esc(v["committed"])}'
        f'</td><td class="l"><b>{_esc(v["now"])}</b></td></tr>'
        for k, v in changed.items()
    )
    return (
        '<table id="changed-params"><tr><th class="l">param that differs from the committed '
        'params.yaml</th><th class="l">committed</th><th class="l">this run</th></tr>'
        f"{rows}</table>"
    )


def _blocks_table(periods: list[Mapping[str, Any]], daily: bool) -> str:
    if not periods:
        return "<p>Block dates: not recorded (metrics.json from an older evaluate).</p>"
    head = "".join(f"<th>{name}</th>" for name in BLOCK_NAMES.values())
    rows = ""
    for k, period in enumerate(periods, start=1):
        cells = "".join(
            "<td>"
            + (
                f"{_when(period[b][0], daily)} to {_when(period[b][1], daily)}"
                if period.get(b)
                else "empty"
            )
            + "</td>"
            for b in BLOCK_NAMES
        )
        rows += f'<tr><th class="l">fold {k}</th>{cells}</tr>'
    return f'<table id="blocks"><tr><th class="l"></th>{head}</tr>{rows}</table>'


def _dsr_table(d: Deflated) -> str:
    if not any(d.moments.values()):  # nothing to tabulate: the sentence above says why
        return ""
    rows = "".join(
        f'<tr class="{"model" if name == "model" else ""}"><th class="l">{_esc(name)}</th>'
        f"<td>{_num(m.sharpe if m else None, 4)}</td><td>{_num(d.psr.get(name))}</td>"
        f"<td>{_num(d.dsr.get(name))}</td></tr>"
        for name, m in d.moments.items()
    )
    return (
        '<table id="dsr"><tr><th class="l">backtest</th><th>Sharpe per bar</th>'
        f"<th>PSR</th><th>DSR ({d.trials.count} trials)</th></tr>{rows}</table>"
    )


def render_header(
    run: Mapping[str, Any], metrics: Mapping[str, Any], interval: str
) -> tuple[str, Deflated]:
    """The header's HTML, from mlflow_run.json's facts (`run`) and metrics.json."""
    d = deflate(metrics, trials_of(run))
    per_year = metrics.get("test", {}).get("periods_per_year")
    rows = "".join(
        f'<tr><th class="l">{name}</th><td class="l">{value}</td></tr>'
        for name, value in _run_rows(run)
    )
    daily = interval.endswith(("d", "wk", "mo"))
    return (
        f"""<section id="provenance"><h2>Where this result comes from</h2>
<table>{rows}</table>
{_params_block(run.get("changed_params"))}
{_blocks_table(list(metrics.get("blocks", [])), daily)}
<h2 id="trials">Configurations tried on this data</h2>
<p class="verdict meh" id="luck">{_esc(luck_sentence(d, per_year))}</p>
<p class="note">{_esc(confidence_sentence(d))} Sharpe ratios here are per bar, before
annualising; PSR is the probability that the true Sharpe is above zero, DSR that it is above
what the best of the configurations tried would reach by luck (Bailey and Lopez de Prado).</p>
{_dsr_table(d)}
</section>
""",
        d,
    )


def compose_report(
    body: str, run: Mapping[str, Any], metrics: Mapping[str, Any], interval: str
) -> str:
    """reports/report.html: evaluate's page with the header in its slot (after <body> if the
    page has none)."""
    header, _ = render_header(run, metrics, interval)
    if SLOT in body:
        return body.replace(SLOT, header, 1)
    at = body.find("<body>")
    cut = at + len("<body>") if at >= 0 else 0
    return body[:cut] + "\n" + header + body[cut:]
