"""reports/report.html: one self-contained page (plots embedded) that tells a reader who did not
run the pipeline what was tested, whether the model beat its baselines beyond the noise, and
what trading it would have done."""

from __future__ import annotations

import base64
import html
from collections.abc import Iterable
from typing import Any

from updown.assess.bootstrap import Comparison, Interval
from updown.assess.evaluate import CONTENDERS, Evaluation
from updown.assess.plots import Figure

METRIC_NAMES = {
    "accuracy": "accuracy",
    "balanced_accuracy": "balanced accuracy",
    "roc_auc": "ROC AUC",
    "log_loss": "log loss",
    "brier": "Brier score",
    "ece": "calibration error",
    "rmse": "RMSE",
    "mae": "MAE",
    "ic": "IC",
    "rank_ic": "rank IC",
    "ic_mean": "mean IC per bar",
    "ic_ir": "ICIR",
    "rank_ic_mean": "mean rank IC per bar",
    "rank_ic_ir": "rank ICIR",
    "rank_ic_t": "rank IC t-stat",
}
GLOSSARY = {
    "accuracy": "share of test rows where the up/down call was right.",
    "balanced_accuracy": "mean of the hit rates on up rows and on down rows; 0.5 for any "
    "rule that always says the same thing.",
    "roc_auc": "probability that a random up row is ranked above a random down row; 0.5 is "
    "no skill.",
    "log_loss": "mean negative log-likelihood of the stated P(up); lower is better; "
    "ln 2 = 0.693 for a coin flip.",
    "brier": "mean squared error of the stated P(up); 0.25 for a constant 0.5.",
    "ece": "expected calibration error: mean gap between stated and observed frequencies "
    "over equal-count bins.",
    "rmse": "root mean squared error of the predicted return.",
    "mae": "mean absolute error of the predicted return.",
    "ic": "Pearson correlation of prediction and realised return over all test rows.",
    "rank_ic": "Spearman (rank) correlation of prediction and realised return over all rows.",
    "ic_mean": "mean over bars of the cross-sectional Pearson correlation (as Qlib's IC).",
    "ic_ir": "mean IC divided by its standard deviation across bars (Qlib's ICIR).",
    "rank_ic_mean": "mean over bars of the cross-sectional rank correlation (Qlib's Rank IC).",
    "rank_ic_ir": "mean rank IC divided by its standard deviation across bars.",
    "rank_ic_t": "t-statistic of the mean rank IC (mean / std x sqrt(bars)); above 2 is "
    "unlikely by chance if bars were independent.",
}
BACKTEST_COLUMNS = {
    "ann_return": ("annual return", True),
    "ann_return_gross": ("before costs", True),
    "ann_vol": ("annual volatility", True),
    "sharpe": ("Sharpe", False),
    "max_drawdown": ("max drawdown", True),
    "turnover": ("turnover / bar", False),
    "exposure": ("exposure", False),
    "total_return": ("total return", True),
}
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


def _name(name: str, ctx: dict[str, Any]) -> str:
    if name == "linear":
        return f"linear ({ctx['linear_kind']})"
    return name.replace("_", " ")


def _table(head: Iterable[str], rows: Iterable[tuple[str, list[str], str]]) -> str:
    """rows: (first cell, other cells, css class of the row)."""
    h = "".join(f"<th>{c}</th>" for c in head)
    body = "".join(
        f'<tr class="{cls}"><th class="l">{first}</th>{"".join(f"<td>{c}</td>" for c in cells)}'
        "</tr>"
        for first, cells, cls in rows
    )
    return f'<table><tr><th class="l"></th>{h}</tr>{body}</table>'


def verdict_sentences(
    headline: str,
    comparisons: dict[str, Comparison],
    confidence: float,
    ctx: dict[str, Any],
) -> list[tuple[int, str]]:
    """One plain sentence per baseline: better, worse, or cannot tell, beyond the interval."""
    metric = METRIC_NAMES.get(headline, headline)
    level = f"{confidence:.0%}"
    out = []
    for name, cmp in comparisons.items():
        iv = cmp.improvement
        base = _name(name, ctx)
        span = f"{level} interval {_fmt(iv.lo)} to {_fmt(iv.hi)}"
        if cmp.verdict == 1:
            text = (
                f"The model beats the {base} baseline on {metric}: its advantage is "
                f"{_fmt(iv.point)} ({span}), and the whole interval is above zero."
            )
        elif cmp.verdict == -1:
            text = (
                f"The model is worse than the {base} baseline on {metric}: its advantage is "
                f"{_fmt(iv.point)} ({span}), and the whole interval is below zero."
            )
        else:
            text = (
                f"The model cannot be told apart from the {base} baseline on {metric}: its "
                f"advantage is {_fmt(iv.point)}, but the {span} includes zero."
            )
        out.append((cmp.verdict, text))
    return out


def overall(verdicts: list[tuple[int, str]]) -> tuple[str, str]:
    wins = sum(v == 1 for v, _ in verdicts)
    losses = sum(v == -1 for v, _ in verdicts)
    n = len(verdicts)
    if wins == n:
        return "good", f"The model beats all {n} baselines beyond the bootstrap interval."
    if wins == 0 and losses == 0:
        return "bad", (
            f"The model beats none of the {n} baselines beyond the bootstrap interval: on this "
            "test period its edge, if any, is not distinguishable from noise."
        )
    if wins == 0:
        return "bad", (
            f"The model beats none of the {n} baselines beyond the bootstrap interval and is "
            f"worse than {losses} of them."
        )
    return "meh", (
        f"The model beats {wins} of {n} baselines beyond the bootstrap interval"
        + (f" and is worse than {losses}." if losses else "; the others are within the noise.")
    )


def _figure(f: Figure) -> str:
    data = base64.b64encode(f.png.read_bytes()).decode()
    return (
        f'<figure id="plot-{_esc(f.name)}"><img alt="{_esc(f.title)}" '
        f'src="data:image/png;base64,{data}"><figcaption><b>{_esc(f.title)}.</b> '
        f"{_esc(f.caption)}</figcaption></figure>"
    )


def render_report(ev: Evaluation, figures: list[Figure], meta: dict[str, Any]) -> str:
    """The HTML page. `meta`: label_kind, horizon, objective, metric, split_mode (strings)."""
    m, ctx = ev.metrics, ev.context
    t = m["test"]
    task = ctx["task"]
    headline = ev.headline
    boot, bt = ctx["bootstrap"], ctx["backtest"]
    metric_name = METRIC_NAMES.get(headline, headline)
    tickers = ctx["tickers"]
    shown = ", ".join(tickers[:12]) + (
        f" and {len(tickers) - 12} more" if len(tickers) > 12 else ""
    )
    horizon = meta.get("horizon", "?")
    what = {
        "direction": f"whether the price is higher {horizon} bar(s) later (up/down)",
        "triple_barrier": f"which barrier is touched first within {horizon} bar(s) "
        "(up = the upper barrier)",
        "return": f"the log return over the next {horizon} bar(s)",
    }.get(meta.get("label_kind", ""), f"the label {meta.get('label_kind')!r}")

    # verdict
    verdicts = verdict_sentences(headline, ev.comparisons, boot.confidence, ctx)
    cls, summary = overall(verdicts)
    verdict_html = (
        f'<div class="verdict {cls}"><p><b>{_esc(summary)}</b></p><ul>'
        + "".join(f"<li>{_esc(s)}</li>" for _, s in verdicts)
        + "</ul></div>"
    )

    # headline intervals
    ci_rows = []
    for name in CONTENDERS:
        iv: Interval = ev.intervals[name]
        ci_rows.append(
            (
                _esc(_name(name, ctx)),
                [_fmt(iv.point), _fmt(iv.lo), _fmt(iv.hi)],
                "model" if name == "model" else "",
            )
        )
    level = f"{boot.confidence:.0%}"
    ci_html = _table([metric_name, f"{level} low", f"{level} high"], ci_rows)

    # metrics
    cols = [c for c in m["model"] if c not in ("tn", "fp", "fn", "tp")]
    metric_rows = []
    for name in CONTENDERS:
        sec = m["model" if name == "model" else f"baseline_{name}"]
        metric_rows.append(
            (
                _esc(_name(name, ctx)),
                [_fmt(sec.get(c)) for c in cols],
                "model" if name == "model" else "",
            )
        )
    metrics_html = _table([METRIC_NAMES.get(c, c) for c in cols], metric_rows)
    conf = m["model"]
    confusion_html = (
        f'<p>Model\'s calls: {conf.get("tp", 0)} right and {conf.get("fp", 0)} wrong "up" calls, '
        f'{conf.get("tn", 0)} right and {conf.get("fn", 0)} wrong "down" calls.</p>'
    )

    # backtest
    bt_rows = []
    for name in [*CONTENDERS, "buy_and_hold"]:
        sec = m.get(f"backtest_{name}", {})
        cells = [
            _pct(sec.get(k)) if pct else _fmt(sec.get(k), 2)
            for k, (_, pct) in BACKTEST_COLUMNS.items()
        ]
        bt_rows.append((_esc(_name(name, ctx)), cells, "model" if name == "model" else ""))
    backtest_html = _table([label for label, _ in BACKTEST_COLUMNS.values()], bt_rows)
    if ev.backtest.mode == "long_flat":
        how = (
            "Long/flat: hold the instrument (equal weight when there are several) whenever the "
            "contender calls up, cash otherwise."
        )
    else:
        how = (
            f"Long/short: every bar, long the top {bt.quantile:.0%} of tickers by the "
            f"contender's score and short the bottom {bt.quantile:.0%}, each leg equally "
            "weighted (1 unit long, 1 unit short). A contender that cannot rank (a constant "
            "score) holds nothing."
        )
    mb = m.get("backtest_model", {})
    bh = m.get("backtest_buy_and_hold", {})
    bt_sentence = (
        f"The model's strategy returned {_pct(mb.get('ann_return'))} a year after costs "
        f"(Sharpe {_fmt(mb.get('sharpe'), 2)}, worst drawdown {_pct(mb.get('max_drawdown'))}); "
        f"buying and holding returned {_pct(bh.get('ann_return'))} a year "
        f"(Sharpe {_fmt(bh.get('sharpe'), 2)}, worst drawdown {_pct(bh.get('max_drawdown'))})."
    )

    # walk-forward folds
    folds_html = ""
    if ctx["folds"]:
        rows = [
            (
                str(f["fold"]),
                [_date(f["start"]), _date(f["end"]), str(f["rows"])]
                + [_fmt(f.get(n)) for n in CONTENDERS],
                "",
            )
            for f in ctx["folds"]
        ]
        folds_html = (
            "<h2>Walk-forward folds</h2><p>Each fold retrains the model and the baselines on "
            f"data before its test block; {metric_name} on each fold's own test rows. The "
            "tables above pool every fold's test rows.</p>"
            + _table(["from", "to", "rows", *[_esc(_name(n, ctx)) for n in CONTENDERS]], rows)
        )

    baselines_html = "".join(
        f"<dt>{_esc(_name(n, ctx))}</dt><dd>{_esc(d)}</dd>" for n, d in ctx["baselines"].items()
    )
    glossary_html = "".join(
        f"<dt>{METRIC_NAMES[c]}</dt><dd>{_esc(GLOSSARY[c])}</dd>" for c in cols if c in GLOSSARY
    )
    figs_html = "".join(_figure(f) for f in figures)
    split_text = (
        f"walk-forward over {t['folds']} folds" if t["folds"] > 1 else "one time-ordered holdout"
    )
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>updown report: does the model beat its baselines?</title><style>{CSS}</style></head>
<body>
<h1>Does the model beat its baselines?</h1>
<p>A LightGBM model ({_esc(meta.get("objective", "?"))} objective) predicts {_esc(what)} for
{len(tickers)} ticker(s) ({_esc(shown)}). It was trained on earlier data, early-stopped on a
later validation block, and tested on <b>{t["rows"]} rows</b> ({t["bars"]} bars) from
<b>{_date(ctx["test_start"])}</b> to <b>{_date(ctx["test_end"])}</b> that it never saw
({_esc(split_text)}). Share of test rows that went up:
{_pct(t["up_rate"])}. Every baseline is fitted on the same training rows and scored on the
same test rows.</p>

<h2>Verdict</h2>
{verdict_html}
<p class="note">Headline metric: <b>{_esc(metric_name)}</b>
({"higher" if ctx["higher_is_better"] else "lower"} is better). Intervals come from a
moving-block bootstrap over time: {boot.resamples} resamples of whole bars in blocks of
{boot.block_bars} consecutive bars, so the tickers of a bar and neighbouring bars move together.
The model's advantage over each baseline is bootstrapped pairwise (both scored on the same
resample). "Beats" means the whole {level} interval of that advantage is above zero.</p>
{ci_html}

<h2>Metrics on the test rows</h2>
{metrics_html}
{confusion_html if task == "classification" or "tp" in conf else ""}
<dl class="note">{glossary_html}</dl>

<h2>Backtest</h2>
<p>{_esc(bt_sentence)}</p>
<p class="note">{_esc(how)} The signal of bar <i>t</i> is traded at the
{_esc(bt.execution)} of bar <i>t</i>+1 and held one bar, so no trade uses a price that was
unknown when the signal was formed. Costs: {bt.cost_bps:g} basis points per unit of capital
traded. {t["backtest_bars"]} bars, {t["periods_per_year"]:.0f} bars a year for annualising.
Sharpe has no risk-free rate subtracted; shorts pay no borrow fee; buy and hold is equal-weight
over every ticker that trades.</p>
{backtest_html}
{folds_html}

<h2>Plots</h2>
{figs_html}

<h2>The baselines</h2>
<dl class="note">{baselines_html}</dl>
<p class="note">Momentum and reversal make hard calls; scoring a hard call as a probability of 0
or 1 would cost them a log loss of about 18 for every miss. So each call carries the rate at
which up followed that same call in the training block (for a return label, the mean return that
followed it). As probabilities the two rules are then the same one-bit model, and they share
their log loss and Brier score; they differ in their calls and in how they rank rows.</p>
</body></html>
"""
