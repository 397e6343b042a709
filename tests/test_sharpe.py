"""The Probabilistic and Deflated Sharpe Ratios against the figures of Bailey and Lopez de
Prado's paper, and the properties every reader relies on."""

import math

import numpy as np
import pytest
from updown.assess.sharpe import (
    SharpeMoments,
    deflated_sharpe,
    expected_max_sharpe,
    moments,
    probabilistic_sharpe,
)


def test_deflated_sharpe_reproduces_the_papers_worked_example():
    # "The Deflated Sharpe Ratio" (2014), section 6: annualised SR 2.5 over 1250 daily bars,
    # skew -3, kurtosis 10, 100 trials whose annualised Sharpe ratios have variance 0.5.
    m = SharpeMoments(sharpe=2.5 / math.sqrt(250), bars=1250, skew=-3.0, kurtosis=10.0)
    sr0 = expected_max_sharpe(100, 0.5 / 250)
    assert sr0 == pytest.approx(0.1132, abs=2e-4)
    assert probabilistic_sharpe(m, sr0) == pytest.approx(0.9004, abs=2e-3)


def test_one_trial_is_not_deflated():
    m = SharpeMoments(sharpe=0.05, bars=500, skew=0.0, kurtosis=3.0)
    assert expected_max_sharpe(1, 0.01) == 0.0
    assert deflated_sharpe(m, 1, np.array([0.05])) == probabilistic_sharpe(m, 0.0)


def test_more_trials_need_a_higher_sharpe_and_deflate_more():
    m = SharpeMoments(sharpe=0.06, bars=500, skew=0.0, kurtosis=3.0)
    trial_sharpes = np.array([0.0, 0.03, -0.02, 0.06])
    sr0 = [expected_max_sharpe(n, 0.001) for n in (2, 10, 100, 1000)]
    assert sr0 == sorted(sr0) and sr0[0] > 0
    dsr = [deflated_sharpe(m, n, trial_sharpes) for n in (1, 10, 100)]
    assert dsr[0] > dsr[1] > dsr[2]


def test_fat_tails_and_negative_skew_lower_the_psr():
    normal = SharpeMoments(sharpe=0.08, bars=300, skew=0.0, kurtosis=3.0)
    fat = SharpeMoments(sharpe=0.08, bars=300, skew=-2.0, kurtosis=12.0)
    assert 0.5 < probabilistic_sharpe(fat) < probabilistic_sharpe(normal) < 1.0


def test_moments_refuse_too_few_bars_and_flat_returns():
    assert moments(np.full(100, 0.001)) is None
    assert moments(np.random.default_rng(0).normal(size=10)) is None
    m = moments(np.random.default_rng(0).normal(0.001, 0.01, size=2000))
    assert m is not None and m.bars == 2000 and abs(m.kurtosis - 3.0) < 0.5


def test_moments_and_normal_quantiles_are_scipy_stats_to_the_bit():
    from scipy import stats
    from updown.assess.sharpe import expected_max_z, sample_kurtosis, sample_skew

    rng = np.random.default_rng(3)
    for r in (rng.standard_t(3, 40), rng.normal(1e-3, 0.01, 5000), rng.exponential(1.0, 31)):
        assert sample_skew(r) == float(stats.skew(r, bias=False))
        assert sample_kurtosis(r) == float(stats.kurtosis(r, fisher=False, bias=False))
    for trials in (2, 7, 100, 10_000):
        a = stats.norm.ppf(1.0 - 1.0 / trials)
        b = stats.norm.ppf(1.0 - 1.0 / (trials * math.e))
        assert expected_max_z(trials) == float(
            (1.0 - 0.5772156649015329) * a + 0.5772156649015329 * b
        )
    m = SharpeMoments(sharpe=0.03, bars=800, skew=-0.5, kurtosis=6.0)
    z = 0.03 * math.sqrt(799) / math.sqrt(1.0 + 0.5 * 0.03 + 5.0 / 4.0 * 0.03**2)
    assert probabilistic_sharpe(m) == float(stats.norm.cdf(z))
