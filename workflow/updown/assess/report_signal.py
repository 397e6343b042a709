"""The report's signal sheet section (`updown.assess.signal`): a plain-words reading (how fast the
model's edge decays, whether its quantiles line up, how stable its ranking is), the rank IC of
every contender by horizon with intervals, and the model's return by quantile."""

from __future__ import annotations

import html
import math

import numpy as np

from updown.assess.bootstrap import Interval
from updown.assess.evaluate import Evaluation
from updown.assess.signal import ContenderSignal, SignalSheet

BP = 1e4


def _ok(x: float) -> bool:
    return x is not None and math.isfinite(x)


def _iv(iv: Interval) -> str:
    if not _ok(iv.point):
        return "n/a"
    band = f" [{iv.lo:+.4f}, {iv.hi:+.4f}]" if _ok(iv.lo) and _ok(iv.hi) else ""
    return f"{iv.point:+.4f}{band}"


def decay_sentence(sheet: SignalSheet) -> str:
    """How the model's rank IC changes with the holding horizon, in words."""
    m, hs = sheet.contenders["model"], sheet.horizons
    first = m.rank_ic[hs[0]]
    if not _ok(first.point):
        return "The model's score has no rank IC against the tradable return."
    figures = ", ".join(f"{m.rank_ic[h].point:+.4f} at {h}" for h in hs if _ok(m.rank_ic[h].point))
    text = f"The model's rank IC against the return it could trade is {figures} bar(s)."
    if first.point <= 0:
        return text + f" At {hs[0]} bar(s) it ranks the wrong way round or not at all."
    if _ok(first.lo) and first.lo <= 0:
        text += f" Its interval at {hs[0]} bar(s) includes zero: no edge beyond the noise."
    halved = [h for h in hs[1:] if _ok(m.rank_ic[h].point) and m.rank_ic[h].point < first.point / 2]
    if halved:
        return text + f" It loses half its strength by {halved[0]} bars."
    return text + f" It keeps at least half its strength out to {hs[-1]} bars."


def quantile_sentence(sheet: SignalSheet) -> str:
    """Whether the model's quantiles line up at the shortest horizon, and its spread."""
    h = sheet.horizons[0]
    m = sheet.contenders["model"]
    means = m.quantile_means[h]
    present = means[np.isfinite(means)]
    if len(present) < 2:
        return f"At {h} bar(s) the model's score does not separate the rows into quantiles."
    steps = np.diff(present)
    if len(present) == 2:  # fewer tickers than quantiles: only the bottom and top are filled
        higher = "top" if steps[0] > 0 else "bottom"
        shape = f"is higher in the {higher} score quantile than in the other"
    elif (steps > 0).all():
        shape = "rises steadily from the lowest score quantile to the highest"
    elif (steps < 0).all():
        shape = "falls steadily from the lowest score quantile to the highest (a backward ranking)"
    else:
        shape = f"is not monotone across the quantiles ({int((steps > 0).sum())} of {len(steps)} steps go up)"
    spread = f"; top minus bottom: {m.spread[h] * BP:+.1f} bp" if _ok(m.spread[h]) else ""
    return f"At {h} bar(s) the mean tradable return {shape}{spread}."


def stability_sentence(sheet: SignalSheet) -> str:
    m = sheet.contenders["model"]
    if not _ok(m.rank_autocorr):
        return "The model's ranking has no bar-to-bar autocorrelation to report."
    what = "its ranking of the tickers" if sheet.cross_sectional else "its score's rank"
    text = f"From one bar to the next, {what} has a rank autocorrelation of {m.rank_autocorr:.2f}"
    if _ok(m.turnover):
        text += f": holding its top quantile would replace {m.turnover:.0%} of it every bar"
    return text + "."


def _rank_ic_table(ev: Evaluation, sheet: SignalSheet) -> str:
    head = "".join(f"<th>{h} bar(s)</th>" for h in sheet.horizons)
    rows = []
    for name, c in sheet.contenders.items():
        cells = "".join(f"<td>{_iv(c.rank_ic[h])}</td>" for h in sheet.horizons)
        cells += f"<td>{_fmt(c.rank_autocorr, '.2f')}</td><td>{_fmt(c.turnover, '.0%')}</td>"
        cls = "model" if name == "model" else ""
        label = html.escape(ev.context.label(name))
        rows.append(f'<tr class="{cls}"><th class="l">{label}</th>{cells}</tr>')
    return (
        f'<table id="signal-rank-ic"><tr><th class="l">rank IC, held</th>{head}'
        "<th>rank autocorr.</th><th>top-quantile turnover</th></tr>" + "".join(rows) + "</table>"
    )


def _fmt(x: float, spec: str) -> str:
    return format(x, spec) if _ok(x) else "n/a"


def _quantile_table(sheet: SignalSheet, m: ContenderSignal) -> str:
    head = "".join(f"<th>{h} bar(s)</th>" for h in sheet.horizons)
    rows = [
        f'<tr><th class="l">quantile {q + 1}</th>'
        + "".join(f"<td>{_fmt(m.quantile_means[h][q] * BP, '+.1f')}</td>" for h in sheet.horizons)
        + "</tr>"
        for q in range(sheet.quantiles)
    ]
    rows.append(
        '<tr class="model"><th class="l">top minus bottom</th>'
        + "".join(f"<td>{_fmt(m.spread[h] * BP, '+.1f')}</td>" for h in sheet.horizons)
        + "</tr>"
    )
    return (
        f'<table id="signal-quantiles"><tr><th class="l">model, mean return (bp)</th>{head}</tr>'
        + "".join(rows)
        + "</table>"
    )


def _method_note(ev: Evaluation, sheet: SignalSheet) -> str:
    how = (
        "the correlation across tickers within each bar, averaged over the bars"
        if sheet.cross_sectional
        else "the correlation over the test period's bars (one ticker)"
    )
    boot = ev.context.bootstrap
    text = (
        f"Forward returns are log returns entering at the {sheet.entry.replace('_', ' ')} and "
        f"held the stated number of bars, never across a data gap. IC: {how}. Intervals: "
        f"{boot.confidence:.0%} moving-block bootstrap over the {sheet.n_bars} test bars, "
        f"blocks of max({boot.block_bars}, horizon + 1) bars because returns of nearby bars "
        "overlap. Turnover: share of the top quantile's members that were not in it the bar "
        "before."
    )
    for h, why in sheet.no_interval.items():
        text += f" No interval at {h} bar(s): {why}."
    return html.escape(text)


def signal_section(ev: Evaluation) -> str:
    """The report's "How the signal behaves" section (empty without a sheet)."""
    sheet = ev.signal
    if sheet is None:
        return ""
    reading = " ".join(
        html.escape(s)
        for s in (decay_sentence(sheet), quantile_sentence(sheet), stability_sentence(sheet))
    )
    return f"""<h2 id="signal">How the signal behaves</h2>
<p>{reading}</p>
{_rank_ic_table(ev, sheet)}
{_quantile_table(sheet, sheet.contenders["model"])}
<p class="note">{_method_note(ev, sheet)}</p>
"""
