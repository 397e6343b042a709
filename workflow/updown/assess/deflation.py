"""The Deflated Sharpe Ratio of every backtest, for the number of configurations tried on the
same data and test block, and what it means in words.

Pure: it reads the backtest figures of metrics.json (per-bar Sharpe, bars, skewness, kurtosis,
written by evaluate) and a TrialCount (counted by the track stage in the MLflow experiment), and
returns numbers and sentences. Where metrics.json has no per-bar moments (an older evaluate),
there is no DSR, and the reason says so.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from updown.assess.sharpe import (
    SharpeMoments,
    deflated_sharpe,
    expected_max_sharpe,
    probabilistic_sharpe,
)

PREFIX = "backtest_"
# A passive benchmark no configuration chooses: it is never deflated.
PASSIVE = ("buy_and_hold",)
MOMENT_KEYS = ("sharpe_per_bar", "bars", "skew", "kurtosis")


@dataclass(frozen=True)
class TrialCount:
    """The configurations tried on the same data and test block, this one included: how many,
    and the model's per-bar Sharpe in each that logged one (one value per configuration)."""

    count: int
    sharpes: tuple[float, ...] = ()
    data_sha256: str = ""
    test_block: tuple[str, str] | None = None

    @property
    def variance(self) -> float | None:
        """The variance of the trials' Sharpe ratios; None when it cannot be known."""
        if self.count == 1:
            return 0.0
        if len(self.sharpes) < 2:
            return None
        return float(np.var(np.asarray(self.sharpes), ddof=1))


@dataclass(frozen=True)
class Deflated:
    """Per strategy: its moments, PSR and DSR (None where it cannot be computed, with `note`)."""

    trials: TrialCount
    moments: dict[str, SharpeMoments | None]
    psr: dict[str, float | None]
    dsr: dict[str, float | None]
    luck_threshold: float | None  # SR0: the per-bar Sharpe the best of N would reach by luck
    note: str = ""
    order: list[str] = field(default_factory=list)


def backtest_sections(metrics: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Each strategy's backtest figures, model first: metrics.json's `backtest_<name>` sections
    (or a `backtest: {<name>: ...}` section), passive benchmarks left out."""
    found: dict[str, dict[str, Any]] = {}
    nested = metrics.get("backtest")
    if isinstance(nested, dict):
        found |= {k: v for k, v in nested.items() if isinstance(v, dict)}
    for key, value in metrics.items():
        if key.startswith(PREFIX) and isinstance(value, dict):
            found.setdefault(key.removeprefix(PREFIX), value)
    ordered = sorted(found, key=lambda name: name != "model")
    return {name: found[name] for name in ordered if name not in PASSIVE}


def moments_of(section: Mapping[str, Any]) -> SharpeMoments | None:
    """The per-bar moments a backtest section holds; None if any is missing or not finite."""
    values = [section.get(k) for k in MOMENT_KEYS]
    if not all(isinstance(v, int | float) and math.isfinite(v) for v in values):
        return None
    sharpe, bars, skew, kurtosis = (float(v) for v in values)  # type: ignore[arg-type]
    return SharpeMoments(sharpe=sharpe, bars=int(bars), skew=skew, kurtosis=kurtosis)


def model_sharpe(metrics: Mapping[str, Any]) -> float | None:
    """The model's per-bar Sharpe, the figure later trials' variance is computed from."""
    m = moments_of(backtest_sections(metrics).get("model", {}))
    return m.sharpe if m is not None else None


def deflate(metrics: Mapping[str, Any], trials: TrialCount) -> Deflated:
    """The PSR and DSR of every backtest, all deflated with the same number of trials and the
    same variance (that of the model's Sharpe across the trials)."""
    sections = backtest_sections(metrics)
    moments = {name: moments_of(sec) for name, sec in sections.items()}
    psr = {name: _psr(sections[name], m) for name, m in moments.items()}
    variance = trials.variance
    note = ""
    if not sections or moments.get("model") is None:
        note = (
            "metrics.json holds no per-bar Sharpe, skewness and kurtosis of the model's backtest "
            "(too few bars, a flat strategy, or an evaluate from before they were written), so "
            "there is no deflated Sharpe ratio"
        )
    elif variance is None:
        note = (
            f"only {len(trials.sharpes)} of the {trials.count} configurations logged a per-bar "
            "Sharpe, so the spread of the trials' Sharpe ratios, and with it the deflated Sharpe "
            "ratio, is unknown"
        )
    if variance is None:
        dsr: dict[str, float | None] = {name: None for name in moments}
        threshold = None
    else:
        dsr = {
            name: None if m is None else _finite(deflated_sharpe(m, trials.count, _spread(trials)))
            for name, m in moments.items()
        }
        threshold = expected_max_sharpe(trials.count, variance)
    return Deflated(trials, moments, psr, dsr, threshold, note, list(moments))


def _spread(trials: TrialCount) -> np.ndarray:
    return np.asarray(trials.sharpes if trials.count > 1 else (), dtype=np.float64)


def _finite(x: float) -> float | None:
    return x if math.isfinite(x) else None


def _psr(section: Mapping[str, Any], m: SharpeMoments | None) -> float | None:
    """The PSR evaluate wrote, else computed here from the same moments."""
    given = section.get("psr")
    if isinstance(given, int | float) and math.isfinite(given):
        return float(given)
    if m is None:
        return None
    return _finite(probabilistic_sharpe(m))


def luck_sentence(d: Deflated, periods_per_year: float | None = None) -> str:
    """In plain words: after N configurations on this data, the chance the Sharpe is luck."""
    n, dsr = d.trials.count, d.dsr.get("model")
    tried = (
        "This is the only configuration tried on this data and test block so far"
        if n == 1
        else f"{n} configurations have been tried on this data and test block so far "
        "(this one included)"
    )
    if dsr is None:
        return f"{tried}; {d.note or 'the model has no deflated Sharpe ratio'}."
    m = d.moments["model"]
    assert m is not None
    luck = 1.0 - dsr
    said = (
        f"After {n} configuration{'s' if n > 1 else ''} on this data, the chance that this "
        f"Sharpe is luck is {luck:.0%} (deflated Sharpe ratio {dsr:.2f}: the probability that "
        f"the model's true Sharpe beats "
    )
    if n == 1 or not d.luck_threshold:
        said += "zero, given its per-bar Sharpe, skewness and kurtosis)."
    else:
        yearly = (
            f", {d.luck_threshold * math.sqrt(periods_per_year):.2f} a year"
            if periods_per_year
            else ""
        )
        said += (
            f"{d.luck_threshold:.4f} per bar{yearly}, the Sharpe the best of {n} skill-free "
            "configurations would reach by luck)."
        )
    return f"{tried}. {said}"


def confidence_sentence(d: Deflated) -> str:
    """What the number of trials does to the confidence in the headline figure."""
    n = d.trials.count
    if n == 1:
        return (
            "With one configuration, the test figures are out of sample as they stand. Every "
            "further configuration tried on the same test block and kept for its test figures "
            "makes the best of them more likely to be luck: the count rises with each distinct "
            "parameter set logged, and the deflated Sharpe ratio falls with it."
        )
    return (
        f"If this configuration was kept because its test figures were the best of {n}, they "
        "are selected on the test block and flattering: the headline metric's interval and the "
        "verdicts assume a single try, and the Sharpe ratio is worth only its deflated value. "
        "Choose configurations on the validation block and look at the test block once."
    )
