"""The report's sentences, as plain text generated from the figures (the page escapes and places
them): the summary line a reader sees first, what the model failed to learn, and the verdict
against each baseline, worded only as strongly as the interval and the diagnostics allow."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from updown.assess.bootstrap import MIN_BLOCKS, MIN_CONFIDENCE, MIN_TAIL_DRAWS, Comparison
from updown.assess.diagnostics import (
    FEW_ROUNDS,
    FEW_SCORES_SHARE,
    MIN_SPREAD_RATIO,
    TIED_BARS,
    Diagnostics,
)
from updown.assess.evaluate import Evaluation, contender_label
from updown.assess.metrics import display_name
from updown.contract import CLASSIFICATION

LEARNED_NOTHING = "the model learned nothing the baselines do not know"


def num(x: Any, digits: int = 4) -> str:
    """A figure for a table or a sentence; "n/a" when undefined."""
    if x is None or (isinstance(x, float) and x != x):
        return "n/a"
    if isinstance(x, float):
        return f"{x:.{digits}f}"
    return str(x)


def short(x: float) -> str:
    """A figure for the summary line: three significant digits, trailing zeros kept."""
    return "n/a" if x != x else f"{x:#.3g}"


def date(ts: Any) -> str:
    return ts.strftime("%Y-%m-%d") if hasattr(ts, "strftime") else str(ts)


def listing(items: list[str]) -> str:
    """ "a", "a and b", "a, b and c"."""
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def baselines_named(names: Iterable[str], linear_kind: str) -> str:
    """ "the momentum baseline", "the momentum and reversal baselines"."""
    labels = [contender_label(n, linear_kind) for n in names]
    return f"the {listing(labels)} baseline{'s' if len(labels) > 1 else ''}"


# -- what the model did not learn ----------------------------------------------------------------


def stated_value(task: str) -> str:
    return "P(up)" if task == CLASSIFICATION else "predicted return"


def rounds(d: Diagnostics) -> str:
    """ "1 boosting round", "3 boosting rounds (the fewest of its 4 walk-forward folds)"."""
    text = f"{d.rounds_kept} boosting round{'s' if d.rounds_kept != 1 else ''}"
    return text + (f" (the fewest of its {d.folds} walk-forward folds)" if d.folds > 1 else "")


def symptoms(d: Diagnostics, task: str, linear_kind: str) -> list[str]:
    """One clause per symptom of a model that learned nothing, with its numbers."""
    what = stated_value(task)
    out = []
    if d.few_rounds:
        out.append(
            f"its validation loss was lowest within the first {FEW_ROUNDS} boosting rounds, so "
            f"it kept {rounds(d)}"
        )
    if d.single_call:
        call = "up" if d.up_share == 1.0 else "down"
        out.append(f'it says "{call}" for every one of the {d.rows} test rows')
    if d.few_scores:
        out.append(f"its scores take only {d.distinct_scores} distinct values over {d.rows} rows")
    if d.narrow:
        base = contender_label(d.baseline, linear_kind)
        out.append(
            f"its {what} barely varies (standard deviation {d.score_spread:.4f}, against "
            f"{d.baseline_spread:.4f} for the {base} baseline)"
        )
    if d.tied:
        out.append(f"it gives every ticker the same {what} on {d.tied_bar_share:.0%} of the bars")
    return out


def learned_nothing(d: Diagnostics, task: str, linear_kind: str) -> str:
    """The degenerate sentence: "The model learned nothing ...: it kept 1 boosting round, ..."."""
    text = LEARNED_NOTHING[0].upper() + LEARNED_NOTHING[1:]
    return f"{text}: {listing(symptoms(d, task, linear_kind))}."


def diagnostics_rules() -> str:
    """The bounds of the degeneracy test, as the report states them."""
    return (
        f"A model is said to have learned nothing the baselines do not know when it kept at most "
        f"{FEW_ROUNDS} boosting rounds, makes the same call for every test row, or its scores "
        f"barely vary: distinct values on fewer than {FEW_SCORES_SHARE:.0%} of the rows, a "
        f"standard deviation under {MIN_SPREAD_RATIO:g} times the widest baseline's, or one score "
        f"for every ticker on {TIED_BARS:.0%} of the bars or more. Such a model is credited with "
        "no win, whatever its bootstrap interval says."
    )


def interval_rules(horizon: int) -> str:
    """The bounds of a sound bootstrap interval, as the report states them."""
    return (
        f"An interval is computed only when the test period holds at least {MIN_BLOCKS} blocks "
        f"(a block is at most 1/{MIN_BLOCKS} of the test bars) and each block is longer than "
        f"the label horizon ({horizon} bar{'s' if horizon != 1 else ''}), whose overlapping "
        f"labels it must keep together; a verdict needs a confidence of at least "
        f"{MIN_CONFIDENCE:.0%} and {MIN_TAIL_DRAWS} or more resamples beyond each end of the "
        "interval. With fewer blocks the resamples repeat the same few stretches of time and "
        "the interval is too narrow (with one block it is a single point)."
    )


# -- the verdict against each baseline -----------------------------------------------------------


def _verdict_sentence(
    cmp: Comparison, base: str, metric: str, level: str, degenerate: bool, no_interval: bool
) -> str:
    iv = cmp.improvement
    span = f"{level} interval {num(iv.lo)} to {num(iv.hi)}"
    if no_interval:
        return (
            f"The model's advantage over the {base} baseline on {metric} is {num(iv.point)}; "
            "there is no interval, so no verdict."
        )
    if cmp.verdict == 1 and degenerate:
        return (
            f"The bootstrap puts the model's advantage over the {base} baseline on {metric} at "
            f"{num(iv.point)} ({span}, above zero), but it is not counted as a win: "
            f"{LEARNED_NOTHING}."
        )
    if cmp.verdict == 1:
        return (
            f"The model beats the {base} baseline on {metric}: its advantage is "
            f"{num(iv.point)} ({span}), and the whole interval is above zero."
        )
    if cmp.verdict == -1:
        return (
            f"The model is worse than the {base} baseline on {metric}: its advantage is "
            f"{num(iv.point)} ({span}), and the whole interval is below zero."
        )
    return (
        f"The model cannot be told apart from the {base} baseline on {metric}: its advantage "
        f"is {num(iv.point)}, but the {span} includes zero."
    )


def verdict_sentences(
    headline: str,
    comparisons: dict[str, Comparison],
    confidence: float,
    linear_kind: str,
    degenerate: bool = False,
    no_interval: str | None = None,
) -> list[tuple[int, str]]:
    """One plain sentence per baseline: better, worse, or cannot tell, beyond the interval; a
    degenerate model's interval above zero is shown but not counted as a win; without an
    interval, no verdict. Returns (the verdict counted, the sentence)."""
    metric, level = display_name(headline), f"{confidence:.0%}"
    out = []
    for name, cmp in comparisons.items():
        base = contender_label(name, linear_kind)
        withheld = no_interval is not None or (degenerate and cmp.verdict == 1)
        text = _verdict_sentence(cmp, base, metric, level, degenerate, no_interval is not None)
        out.append((0 if withheld else cmp.verdict, text))
    return out


def overall(
    verdicts: list[tuple[int, str]], learned: str | None = None, no_interval: str | None = None
) -> tuple[str, str]:
    """The verdict box's headline and its css class. `learned`: the degenerate sentence (the
    model learned nothing); `no_interval`: why there is no interval."""
    n = len(verdicts)
    if no_interval is not None:
        text = f"No verdict against the {n} baselines: there is no interval, as {no_interval}."
        return ("bad", f"{text} {learned}") if learned else ("meh", text)
    if learned is not None:
        return "bad", f"{learned} No win over a baseline is claimed."
    wins = sum(v == 1 for v, _ in verdicts)
    losses = sum(v == -1 for v, _ in verdicts)
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


# -- the summary line ----------------------------------------------------------------------------


def _against(verdicts: dict[str, int], linear_kind: str) -> str:
    """What the verdicts say, as a clause: "it beat X and could not be told apart from Y"."""
    by = {v: [n for n, x in verdicts.items() if x == v] for v in (1, 0, -1)}
    parts = []
    if by[1]:
        parts.append(f"beat {baselines_named(by[1], linear_kind)}")
    if by[0]:
        parts.append(f"could not be told apart from {baselines_named(by[0], linear_kind)}")
    if by[-1]:
        parts.append(f"was worse than {baselines_named(by[-1], linear_kind)}")
    if by[1]:
        return f"it {listing(parts)}"
    return f"it did not beat any of the {len(verdicts)} baselines: it {listing(parts)}"


def summary_sentence(ev: Evaluation) -> str:
    """The report's first line: the test period, the headline with its interval, and what the
    model did against the baselines, or that it learned nothing, or why there is no verdict."""
    ctx, t, d = ev.context, ev.metrics["test"], ev.diagnostics
    iv = ev.intervals["model"]
    n = len(ctx.tickers)
    head = (
        f"Over {date(ctx.test_start)} .. {date(ctx.test_end)} ({t['bars']} bars, {n} "
        f"ticker{'s' if n != 1 else ''}), the model's {display_name(ev.headline)} was "
        f"{short(iv.point)}"
    )
    if ev.design.no_interval is not None:
        head += f"; there is no interval and no verdict, as {ev.design.no_interval}"
    else:
        head += f" ({ctx.bootstrap.confidence:.0%} interval {short(iv.lo)} to {short(iv.hi)})"
    if d.degenerate:
        return f"{head}; {LEARNED_NOTHING}: {listing(symptoms(d, ctx.task, ctx.linear_kind))}."
    if ev.design.no_interval is not None:
        return f"{head}."
    return f"{head}; {_against(ev.verdicts, ctx.linear_kind)}."


def model_facts(d: Diagnostics, task: str, linear_kind: str) -> str:
    """The diagnostics' numbers in one sentence, shown whether or not the model is degenerate."""
    what = stated_value(task)
    base = contender_label(d.baseline, linear_kind)
    tied = (
        f"; it gives every ticker the same {what} on {d.tied_bar_share:.0%} of the bars"
        if d.tied_bar_share > 0  # NaN (one ticker) compares False
        else ""
    )
    return (
        f'The model kept {rounds(d)} and calls "up" on {d.up_share:.1%} of the test rows; '
        f"its {what} takes {d.distinct_scores} distinct values with a standard deviation of {d.score_spread:.4f} "
        f"(the {base} baseline's: {d.baseline_spread:.4f}){tied}."
    )
