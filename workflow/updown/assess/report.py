"""reports/report.html: one self-contained page (plots embedded) that tells a reader who did not
run the pipeline what was tested, whether the model beat its baselines beyond the noise, and
what trading it would have done. Its first lines say what the model learned (or that it learned
nothing, or that the test period supports no verdict), generated from the figures; then what was
tested, what validate left out, the verdict, metrics, backtest and plots. One function per
section; the sentences come from `updown.assess.report_text`, metric names and definitions from
the metric registry, backtest figures from the backtest."""

from __future__ import annotations

import base64
import html
from collections.abc import Iterable
from typing import Any

from updown.assess.backtest import FIGURES
from updown.assess.backtest_report import portfolio_section, psr_cell, strategy_text
from updown.assess.data_notes import DataNotes, dropped_sentence
from updown.assess.evaluate import CONTENDERS, Evaluation, section_of
from updown.assess.metrics import METRICS, display_name
from updown.assess.plots import Figure
from updown.assess.report_signal import signal_section
from updown.assess.report_text import (
    diagnostics_rules,
    interval_rules,
    learned_nothing,
    model_facts,
    overall,
    summary_sentence,
    verdict_sentences,
)
from updown.contract import CLASSIFICATION, REPORT_HEADER_SLOT
from updown.learn.summary import TrainingSummary

CSS = """
body{font-family:-apple-system,Segoe UI,Helvetica,Arial,sans-serif;max-width:1060px;
margin:2em auto;padding:0 1em;color:#222;line-height:1.45}
h1{margin-bottom:.2em}h2{margin-top:1.6em;border-bottom:1px solid #ddd;padding-bottom:.2em}
table{border-collapse:collapse;margin:.6em 0}td,th{border:1px solid #ccc;padding:3px 8px;
text-align:right;font-variant-numeric:tabular-nums}th{background:#f4f4f4}
td.l,th.l{text-align:left}tr.model td,tr.model th{font-weight:bold;background:#fff4f4}
.verdict{border-left:5px solid #888;padding:.5em 1em;background:#f8f8f8}
.good{border-color:#2a2}.bad{border-color:#c22}.meh{border-color:#d90}
figure{display:inline-block;vertical-align:top;width:480px;margin:.6em .8em .6em 0}
figure img{max-width:100%;border:1px solid #eee}figcaption{font-size:.88em;color:#444}
.note{font-size:.9em;color:#444}dt{font-weight:bold}dd{margin:0 0 .4em 1.2em}
.lead{font-size:1.08em}
"""


def _fmt(x: Any, digits: int = 4) -> str:
    if x is None:
        return "n/a"
    if isinstance(x, float):
        return f"{x:.{digits}f}"
    return html.escape(str(x))


def _pct(x: Any) -> str:
    return "n/a" if x is None else f"{100 * x:.1f}%"


def _esc(text: str) -> str:
    return html.escape(text, quote=True)


def _date(ts: Any) -> str:
    return ts.strftime("%Y-%m-%d") if hasattr(ts, "strftime") else str(ts)


def _row_class(name: str) -> str:
    return "model" if name == "model" else ""


def _table(head: Iterable[str], rows: Iterable[tuple[str, list[str], str]]) -> str:
    """rows: (first cell, other cells, css class of the row)."""
    h = "".join(f"<th>{c}</th>" for c in head)
    body = "".join(
        f'<tr class="{cls}"><th class="l">{first}</th>{"".join(f"<td>{c}</td>" for c in cells)}'
        "</tr>"
        for first, cells, cls in rows
    )
    return f'<table><tr><th class="l"></th>{h}</tr>{body}</table>'


# -- the verdict ---------------------------------------------------------------------------------


def _verdict_box(ev: Evaluation) -> str:
    ctx, d = ev.context, ev.diagnostics
    reason = ev.design.no_interval
    verdicts = verdict_sentences(
        ev.headline, ev.comparisons, ctx.bootstrap.confidence, ctx.linear_kind,
        degenerate=d.degenerate, no_interval=reason,
    )  # fmt: skip
    learned = learned_nothing(d, ctx.task, ctx.linear_kind) if d.degenerate else None
    cls, summary = overall(verdicts, learned=learned, no_interval=reason)
    return (
        f'<div class="verdict {cls}"><p><b>{_esc(summary)}</b></p><ul>'
        + "".join(f"<li>{_esc(s)}</li>" for _, s in verdicts)
        + "</ul></div>"
    )


def _interval_table(ev: Evaluation) -> str:
    """The headline of every contender with its bootstrap interval."""
    rows = []
    for name in CONTENDERS:
        iv = ev.intervals[name]
        cells = [_fmt(iv.point), _fmt(iv.lo), _fmt(iv.hi)]
        rows.append((_esc(ev.context.label(name)), cells, _row_class(name)))
    level = f"{ev.context.bootstrap.confidence:.0%}"
    return _table([display_name(ev.headline), f"{level} low", f"{level} high"], rows)


def verdict_section(ev: Evaluation) -> str:
    boot, design = ev.context.bootstrap, ev.design
    better = "higher" if METRICS[ev.headline].higher_is_better else "lower"
    level = f"{boot.confidence:.0%}"
    here = (
        f"Here the {design.n_bars} test bars hold {design.blocks:.1f} blocks of "
        f"{boot.block_bars} bars"
        + (f": no interval, as {design.no_interval}." if design.no_interval else ".")
    )
    meaning = (
        f' "Beats" means the whole {level} interval of that advantage is above zero.'
        if design.no_interval is None
        else ""
    )
    return f"""<h2>Verdict</h2>
{_verdict_box(ev)}
<p class="note">Headline metric: <b>{_esc(display_name(ev.headline))}</b>
({better} is better). Intervals come from a
moving-block bootstrap over time: {boot.resamples} resamples of whole bars in blocks of
{boot.block_bars} consecutive bars, so the tickers of a bar and neighbouring bars move together.
The model's advantage over each baseline is bootstrapped pairwise (both scored on the same
resample).{meaning} {_esc(interval_rules(design.horizon))} {_esc(here)}</p>
{_interval_table(ev)}
"""


# -- the metrics ---------------------------------------------------------------------------------


def _metric_columns(ev: Evaluation) -> list[str]:
    """The registry's metrics the model has a value for, in metrics.json's order."""
    return [c for c in ev.metrics["model"] if c in METRICS]


def _metrics_table(ev: Evaluation, cols: list[str]) -> str:
    rows = []
    for name in CONTENDERS:
        sec = ev.metrics[section_of(name)]
        cells = [_fmt(sec.get(c)) for c in cols]
        rows.append((_esc(ev.context.label(name)), cells, _row_class(name)))
    return _table([display_name(c) for c in cols], rows)


def _confusion_sentence(ev: Evaluation) -> str:
    conf = ev.metrics["model"]
    if ev.context.task != CLASSIFICATION and "tp" not in conf:
        return ""
    return (
        f'<p>Model\'s calls: {conf.get("tp", 0)} right and {conf.get("fp", 0)} wrong "up" calls, '
        f'{conf.get("tn", 0)} right and {conf.get("fn", 0)} wrong "down" calls.</p>'
    )


def metrics_section(ev: Evaluation) -> str:
    cols = _metric_columns(ev)
    glossary = "".join(
        f"<dt>{METRICS[c].display}</dt><dd>{_esc(METRICS[c].glossary)}</dd>" for c in cols
    )
    return f"""<h2>Metrics on the test rows</h2>
{_metrics_table(ev, cols)}
{_confusion_sentence(ev)}
<dl class="note">{glossary}</dl>
"""


# -- the backtest --------------------------------------------------------------------------------


def _backtest_table(ev: Evaluation) -> str:
    rows = []
    for name in [*CONTENDERS, "buy_and_hold"]:
        sec = ev.metrics.get(f"backtest_{name}", {})
        cells = [
            _pct(sec.get(k)) if pct else _fmt(sec.get(k), 2) for k, (_, pct) in FIGURES.items()
        ]
        cells.append(_esc(psr_cell(sec)))
        rows.append((_esc(ev.context.label(name)), cells, _row_class(name)))
    return _table([*(label for label, _ in FIGURES.values()), "PSR"], rows)


def _backtest_sentence(ev: Evaluation) -> str:
    mb = ev.metrics.get("backtest_model", {})
    bh = ev.metrics.get("backtest_buy_and_hold", {})
    return (
        f"The model's strategy returned {_pct(mb.get('ann_return'))} a year after costs "
        f"(Sharpe {_fmt(mb.get('sharpe'), 2)}, worst drawdown {_pct(mb.get('max_drawdown'))}); "
        f"buying and holding returned {_pct(bh.get('ann_return'))} a year "
        f"(Sharpe {_fmt(bh.get('sharpe'), 2)}, worst drawdown {_pct(bh.get('max_drawdown'))})."
    )


def backtest_section(ev: Evaluation) -> str:
    bt, t = ev.context.backtest, ev.metrics["test"]
    return f"""<h2>Backtest</h2>
<p>{_esc(_backtest_sentence(ev))}</p>
<p class="note">{_esc(strategy_text(ev.backtest.mode, bt))} The signal of bar <i>t</i> is traded at the
{_esc(bt.execution)} of bar <i>t</i>+1 and held one bar, so no trade uses a price that was
unknown when the signal was formed. Costs: {bt.cost_bps:g} basis points per unit of capital
traded. {t["backtest_bars"]} bars, {t["periods_per_year"]:.0f} bars a year for annualising.
Sharpe has no risk-free rate subtracted; shorts pay no borrow fee; buy and hold is equal-weight
over every ticker that trades.</p>
{_backtest_table(ev)}
{portfolio_section(ev.backtest.portfolios, bt, ev.context.label)}"""


# -- walk-forward folds, plots, baselines --------------------------------------------------------


def folds_section(ev: Evaluation) -> str:
    """The headline on each walk-forward fold (nothing for a single holdout)."""
    ctx = ev.context
    if not ctx.folds:
        return "\n"
    rows = [
        (
            str(f.fold),
            [_date(f.start), _date(f.end), str(f.rows)]
            + [_fmt(f.scores.get(n)) for n in CONTENDERS],
            "",
        )
        for f in ctx.folds
    ]
    head = ["from", "to", "rows", *[_esc(ctx.label(n)) for n in CONTENDERS]]
    return (
        "<h2>Walk-forward folds</h2><p>Each fold retrains the model and the baselines on "
        f"data before its test block; {display_name(ev.headline)} on each fold's own test rows. "
        "The tables above pool every fold's test rows.</p>" + _table(head, rows) + "\n"
    )


def _figure(f: Figure) -> str:
    data = base64.b64encode(f.png.read_bytes()).decode()
    return (
        f'<figure id="plot-{_esc(f.name)}"><img alt="{_esc(f.title)}" '
        f'src="data:image/png;base64,{data}"><figcaption><b>{_esc(f.title)}.</b> '
        f"{_esc(f.caption)}</figcaption></figure>"
    )


def plots_section(figures: list[Figure]) -> str:
    return "<h2>Plots</h2>\n" + "".join(_figure(f) for f in figures) + "\n"


def baselines_section(ev: Evaluation) -> str:
    ctx = ev.context
    described = "".join(
        f"<dt>{_esc(ctx.label(n))}</dt><dd>{_esc(d)}</dd>" for n, d in ctx.baselines.items()
    )
    return f"""<h2>The baselines</h2>
<dl class="note">{described}</dl>
<p class="note">Momentum and reversal make hard calls; scoring a hard call as a probability of 0
or 1 would cost them a log loss of about 18 for every miss. So each call carries the rate at
which up followed that same call in the training block (for a return label, the mean return that
followed it). As probabilities the two rules are then the same one-bit model, and they share
their log loss and Brier score; they differ in their calls and in how they rank rows.</p>
"""


# -- the page ------------------------------------------------------------------------------------


def _what_is_predicted(training: TrainingSummary) -> str:
    horizon = training.horizon
    return {
        "direction": f"whether the price is higher {horizon} bar(s) later (up/down)",
        "triple_barrier": f"which barrier is touched first within {horizon} bar(s) "
        "(up = the upper barrier)",
        "return": f"the log return over the next {horizon} bar(s)",
    }.get(training.label_kind, f"the label {training.label_kind!r}")


def intro_section(ev: Evaluation, training: TrainingSummary) -> str:
    """What was tested: the model, the label, the tickers and the test period."""
    ctx, t = ev.context, ev.metrics["test"]
    tickers = ctx.tickers
    shown = ", ".join(tickers[:12]) + (
        f" and {len(tickers) - 12} more" if len(tickers) > 12 else ""
    )
    split_text = (
        f"walk-forward over {t['folds']} folds" if t["folds"] > 1 else "one time-ordered holdout"
    )
    what = _what_is_predicted(training)
    d = ev.diagnostics
    scored = (
        "scored on the <b>validation block</b> it was early-stopped on (evaluate.block: "
        "validation, how a sweep compares configurations; the test block was not read):"
        if ev.metrics.get("scored_block") == "validation"
        else "tested on"
    )
    return f"""<h2>What was tested</h2>
<p>A LightGBM model ({_esc(training.objective)} objective) predicts {_esc(what)} for
{len(tickers)} ticker(s) ({_esc(shown)}). It was trained on earlier data, early-stopped on a
later validation block, and {scored} <b>{t["rows"]} rows</b> ({t["bars"]} bars) from
<b>{_date(ctx.test_start)}</b> to <b>{_date(ctx.test_end)}</b>
({_esc(split_text)}). Share of test rows that went up:
{_pct(t["up_rate"])}. Every baseline is fitted on the same training rows and scored on the
same test rows.</p>
<p class="note" id="diagnostics">{_esc(model_facts(d, ctx.task, ctx.linear_kind))}
{_esc(diagnostics_rules())}</p>
"""


def summary_section(ev: Evaluation) -> str:
    """The title and the first lines: what the model learned, in words, from the figures."""
    d = ev.diagnostics
    cls = "bad" if d.degenerate else "meh" if ev.design.no_interval else ""
    return f"""<h1>Does the model beat its baselines?</h1>
<p class="lead verdict {cls}" id="summary">{_esc(summary_sentence(ev))}</p>
"""


def data_section(notes: DataNotes) -> str:
    """The tickers validate dropped and why, what it fixed, and its notes."""
    items = "".join(
        f"<li><b>{_esc(t)}</b>: {_esc('; '.join(why) or 'no reason recorded')}</li>"
        for t, why in notes.dropped
    )
    fixed = "".join(f"<li>{_esc(t)} (kept): {_esc('; '.join(why))}</li>" for t, why in notes.fixed)
    extra = "".join(f"<li>{_esc(n)}</li>" for n in notes.notes)
    lists = "".join(f"<ul>{x}</ul>" for x in (items, fixed + extra) if x)
    return f"""<h2>Data</h2>
<p id="validation">{_esc(dropped_sentence(notes))}</p>{lists}
"""


HEAD = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>updown report: does the model beat its baselines?</title><style>{CSS}</style></head>
<body>
"""


def render_report(
    ev: Evaluation, figures: list[Figure], training: TrainingSummary, notes: DataNotes
) -> str:
    """The HTML page; `training`: what train says about the model (objective, label, horizon);
    `notes`: what validate left out (reports/validation.json)."""
    sections = [
        summary_section(ev),
        REPORT_HEADER_SLOT,  # the track stage puts the run's header here (updown.assess.header)
        intro_section(ev, training),
        data_section(notes),
        verdict_section(ev),
        metrics_section(ev),
        backtest_section(ev) + folds_section(ev),
        signal_section(ev),
        plots_section(figures),
        baselines_section(ev),
    ]
    return HEAD + "\n".join(sections) + "</body></html>\n"
