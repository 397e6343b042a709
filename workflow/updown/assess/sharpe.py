"""How much a Sharpe ratio can be trusted: the Probabilistic and Deflated Sharpe Ratios.

Bailey and Lopez de Prado, "The Sharpe Ratio Efficient Frontier" (2012) and "The Deflated Sharpe
Ratio" (2014). All Sharpe ratios here are per bar (not annualised): the standard error formula
works in the units the returns were sampled in.

- PSR(SR*) = P(true Sharpe > SR*) = Phi((SR - SR*) sqrt(n - 1) / sqrt(1 - g3 SR + (g4 - 1)/4 SR^2)),
  with g3 the skewness and g4 the (non-excess) kurtosis of the per-bar returns: fat tails and
  negative skew widen the Sharpe's error.
- DSR = PSR(SR0), where SR0 is the Sharpe the best of N skill-free trials would reach by luck:
  SR0 = sqrt(V) ((1 - gamma) Phi^-1(1 - 1/N) + gamma Phi^-1(1 - 1/(N e))), V the variance of the
  trials' Sharpe ratios and gamma the Euler-Mascheroni constant. One trial: SR0 = 0, DSR = PSR(0).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.special import ndtr, ndtri

EULER_GAMMA = 0.5772156649015329
#: Fewer bars than this and the moments (skew, kurtosis) behind the PSR mean nothing.
MIN_BARS = 30


@dataclass(frozen=True)
class SharpeMoments:
    """What the PSR needs of a return series: per-bar Sharpe, bars, skewness, kurtosis."""

    sharpe: float  # per bar, no risk-free rate
    bars: int
    skew: float
    kurtosis: float  # non-excess: 3 for a normal distribution

    def as_dict(self) -> dict[str, float]:
        return {
            "sharpe_per_bar": self.sharpe,
            "bars": float(self.bars),
            "skew": self.skew,
            "kurtosis": self.kurtosis,
        }


def moments(returns: np.ndarray) -> SharpeMoments | None:
    """The moments of a per-bar return series; None when there are fewer than MIN_BARS bars or
    the returns do not vary (no Sharpe ratio to speak of)."""
    r = np.asarray(returns, dtype=np.float64)
    r = r[np.isfinite(r)]
    if len(r) < MIN_BARS:
        return None
    sd = float(np.std(r, ddof=1))
    # Float noise on a constant series is not variation (np.std of 100 equal values is ~1e-19).
    if not sd > 1e-12 * max(1.0, float(np.max(np.abs(r)))):
        return None
    return SharpeMoments(
        sharpe=float(np.mean(r)) / sd,
        bars=len(r),
        skew=sample_skew(r),
        kurtosis=sample_kurtosis(r),
    )


# scipy.stats.skew and kurtosis (bias=False, fisher=False), operation for operation, so the
# figures are theirs to the bit: importing scipy.stats costs a stage ~0.45 s, scipy.special 0.08.
def _central(r: np.ndarray) -> tuple[np.ndarray, float]:
    d = r - np.mean(r, keepdims=True)
    return d, float(np.mean(d**2))


def sample_skew(r: np.ndarray) -> float:
    """The bias-corrected (adjusted Fisher-Pearson) skewness of at least 3 values."""
    d, m2 = _central(r)
    m3 = np.mean(d**2 * d)
    n = len(r)
    return float(((n - 1.0) * n) ** 0.5 / (n - 2.0) * m3 / m2**1.5)


def sample_kurtosis(r: np.ndarray) -> float:
    """The bias-corrected, non-excess kurtosis (3 for a normal) of at least 4 values."""
    d, m2 = _central(r)
    m4 = np.mean((d**2) ** 2)
    n = len(r)
    return float(1.0 / (n - 2) / (n - 3) * ((n**2 - 1.0) * m4 / m2**2.0 - 3 * (n - 1) ** 2.0) + 3.0)


def probabilistic_sharpe(m: SharpeMoments, benchmark: float = 0.0) -> float:
    """P(the true per-bar Sharpe exceeds `benchmark`), given the observed one and its moments."""
    var = 1.0 - m.skew * m.sharpe + (m.kurtosis - 1.0) / 4.0 * m.sharpe**2
    if not var > 0:
        return float("nan")
    z = (m.sharpe - benchmark) * math.sqrt(m.bars - 1) / math.sqrt(var)
    return float(ndtr(z))


def expected_max_z(trials: int) -> float:
    """E[max of `trials` independent standard normal draws] (the paper's approximation; 0 for one)."""
    if trials < 1:
        raise ValueError(f"trials must be at least 1, not {trials}")
    if trials == 1:
        return 0.0
    a = ndtri(1.0 - 1.0 / trials)  # the standard normal's quantile function
    b = ndtri(1.0 - 1.0 / (trials * math.e))
    return float((1.0 - EULER_GAMMA) * a + EULER_GAMMA * b)


def expected_max_sharpe(trials: int, variance: float) -> float:
    """The per-bar Sharpe the best of `trials` skill-free configurations reaches by luck, when
    their Sharpe ratios vary with `variance` (0 for a single trial)."""
    if not variance > 0:
        return 0.0
    return math.sqrt(variance) * expected_max_z(trials)


def deflated_sharpe(m: SharpeMoments, trials: int, trial_sharpes: np.ndarray) -> float:
    """The PSR against the best Sharpe that `trials` configurations would reach by luck; the
    variance is that of `trial_sharpes` (per bar, one per configuration tried on this data)."""
    values = np.asarray(trial_sharpes, dtype=np.float64)
    values = values[np.isfinite(values)]
    variance = float(np.var(values, ddof=1)) if len(values) >= 2 else 0.0
    return probabilistic_sharpe(m, expected_max_sharpe(trials, variance))
