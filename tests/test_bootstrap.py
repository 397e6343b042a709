"""The block bootstrap: weighted metrics equal the plain ones on repeated rows, blocks are runs of
consecutive bars, and the paired verdict says "better" only when the whole interval agrees."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score
from updown.assess import bootstrap as bs
from updown.assess import pair_counts as pc
from updown.assess import weighted as ws
from updown.config import BootstrapConfig

CFG = BootstrapConfig(resamples=400, block_bars=10, confidence=0.95, seed=1)


def test_weighted_auc_equals_sklearn_on_repeated_rows_including_ties() -> None:
    rng = np.random.default_rng(0)
    score = np.round(rng.standard_normal(300), 1)  # many ties
    y = rng.random(300) < 0.4
    w = rng.integers(0, 4, 300)
    repeated = np.repeat(np.arange(300), w)
    got = ws.weighted_auc(score, y).fn(w.astype(float), np.empty(0))
    assert got == pytest.approx(roc_auc_score(y[repeated], score[repeated]))
    assert ws.weighted_auc(score, y).point(300, 1) == pytest.approx(roc_auc_score(y, score))


def test_weighted_correlation_equals_pearson_on_repeated_rows_and_a_constant_scores_zero() -> None:
    rng = np.random.default_rng(1)
    x, y = rng.standard_normal(200), rng.standard_normal(200)
    w = rng.integers(0, 3, 200)
    repeated = np.repeat(np.arange(200), w)
    got = ws.weighted_corr(x, y).fn(w.astype(float), np.empty(0))
    assert got == pytest.approx(np.corrcoef(x[repeated], y[repeated])[0, 1])
    assert ws.weighted_corr(np.full(200, 0.3), y).point(200, 1) == 0.0


def test_balanced_accuracy_and_rmse_weights_match_repetition() -> None:
    rng = np.random.default_rng(2)
    pos = rng.random(100) < 0.5
    correct = (rng.random(100) < 0.6).astype(float)
    w = rng.integers(0, 3, 100)
    r = np.repeat(np.arange(100), w)
    expected = 0.5 * (correct[r][pos[r]].mean() + correct[r][~pos[r]].mean())
    got = ws.weighted_balanced_accuracy(correct, pos).fn(w.astype(float), np.empty(0))
    assert got == pytest.approx(expected)
    err = rng.standard_normal(100)
    assert ws.weighted_rmse(err).fn(w.astype(float), np.empty(0)) == pytest.approx(
        np.sqrt(np.mean(err[r] ** 2))
    )


def test_each_resample_draws_n_bars_in_runs_of_consecutive_bars_and_repeats_with_the_seed() -> None:
    counts = bs.block_counts(95, CFG)
    assert counts.shape == (400, 95)
    assert (counts.sum(axis=1) == 95).all()
    # blocks are runs of 10 bars (the last one cut to 5): no drawn bar stands alone
    drawn = counts > 0
    lonely = drawn[:, 1:-1] & ~drawn[:, :-2] & ~drawn[:, 2:]
    assert lonely.sum() == 0
    assert np.array_equal(counts, bs.block_counts(95, CFG))
    assert not np.array_equal(counts, bs.block_counts(95, BootstrapConfig(400, 10, 0.95, 2)))


def _scorers(model_skill: float, seed: int = 0) -> tuple[dict[str, ws.Scorer], np.ndarray, int]:
    rng = np.random.default_rng(seed)
    n_bars, per_bar = 300, 3
    bar = np.repeat(np.arange(n_bars), per_bar)
    y = rng.random(len(bar)) < 0.5
    informed = y + rng.standard_normal(len(bar)) / max(model_skill, 1e-9)
    noise = rng.standard_normal(len(bar))
    scorers = {
        "model": ws.weighted_auc(informed if model_skill else noise, y),
        "coin": ws.weighted_auc(rng.standard_normal(len(bar)), y),
        "same": ws.weighted_auc(informed if model_skill else noise, y),
    }
    return scorers, bar, n_bars


def test_a_model_with_real_skill_beats_a_coin_beyond_the_interval() -> None:
    scorers, bar, n_bars = _scorers(model_skill=1.0)
    intervals, cmp = bs.paired_bootstrap(scorers, bar, n_bars, "roc_auc", CFG)
    assert cmp["coin"].verdict == 1
    assert cmp["coin"].improvement.lo > 0
    assert intervals["model"].lo < intervals["model"].point < intervals["model"].hi


def test_a_contender_identical_to_the_model_is_never_called_different() -> None:
    scorers, bar, n_bars = _scorers(model_skill=1.0)
    _, cmp = bs.paired_bootstrap(scorers, bar, n_bars, "roc_auc", CFG)
    assert cmp["same"].verdict == 0
    assert cmp["same"].improvement.lo == cmp["same"].improvement.hi == 0.0


def test_a_lower_is_better_metric_flips_the_sign_of_the_improvement() -> None:
    rng = np.random.default_rng(3)
    bar = np.repeat(np.arange(200), 2)
    y = rng.standard_normal(len(bar))
    good, bad = y + 0.1 * rng.standard_normal(len(bar)), y + rng.standard_normal(len(bar))
    scorers = {"model": ws.weighted_rmse(bad - y), "oracle": ws.weighted_rmse(good - y)}
    _, cmp = bs.paired_bootstrap(scorers, bar, 200, "rmse", CFG)
    assert cmp["oracle"].verdict == -1  # the model's RMSE is higher: it is worse
    assert cmp["oracle"].improvement.point < 0


def test_noise_against_noise_is_mostly_called_a_tie() -> None:
    ties = 0
    for seed in range(10):
        scorers, bar, n_bars = _scorers(model_skill=0.0, seed=seed)
        _, cmp = bs.paired_bootstrap(
            scorers, bar, n_bars, "roc_auc", BootstrapConfig(200, 10, 0.95, seed)
        )
        ties += cmp["coin"].verdict == 0
    assert ties >= 8  # a 95% interval should rarely separate two coins


def test_a_per_bar_statistic_is_resampled_by_bar() -> None:
    per_bar = np.array([0.1, np.nan, 0.3, 0.5])
    s = ws.weighted_bar_mean(per_bar)
    assert s.per_bar
    assert s.point(0, 4) == pytest.approx(0.3)
    assert s.fn(np.empty(0), np.array([2.0, 5.0, 0.0, 1.0])) == pytest.approx((0.2 + 0.5) / 3)


def test_the_report_words_a_verdict_only_as_strongly_as_the_interval_allows() -> None:
    from updown.assess.report import overall, verdict_sentences

    cmp = {
        "momentum": bs.Comparison(bs.Interval(0.03, 0.01, 0.05), 1),
        "reversal": bs.Comparison(bs.Interval(0.01, -0.02, 0.04), 0),
        "linear": bs.Comparison(bs.Interval(-0.03, -0.05, -0.01), -1),
    }
    lines = dict(zip(cmp, verdict_sentences("roc_auc", cmp, 0.9, "ridge"),
                     strict=True))  # fmt: skip
    assert lines["momentum"][1].startswith("The model beats the momentum baseline on ROC AUC")
    assert "90% interval 0.0100 to 0.0500" in lines["momentum"][1]
    assert "cannot be told apart from the reversal baseline" in lines["reversal"][1]
    assert "worse than the linear (ridge) baseline" in lines["linear"][1]
    assert overall(list(lines.values()))[1] == (
        "The model beats 1 of 3 baselines beyond the bootstrap interval and is worse than 1."
    )


@pytest.mark.parametrize("kind", ["continuous", "ties", "constant", "two_levels", "nan"])
@pytest.mark.parametrize("pair_bars", [ws.MAX_PAIR_BARS, 0])
def test_batched_draws_equal_the_row_by_row_ones_to_the_bit(
    kind: str, pair_bars: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """AUC (from pair counts per two bars, or from a pass over the rows per resample when there
    are many bars), accuracy and balanced accuracy scored for all resamples at once from counts
    per bar: exactly what the per-resample row weights give."""
    monkeypatch.setattr(ws, "MAX_PAIR_BARS", pair_bars)
    rng = np.random.default_rng(7)
    n_bars = 120
    bar = np.sort(rng.integers(0, n_bars, 3000))
    bar = np.r_[np.arange(n_bars), bar]
    bar.sort()
    n = len(bar)
    y = rng.random(n) < 0.45
    score = {
        "continuous": rng.random(n),
        "ties": np.round(rng.standard_normal(n), 1),
        "constant": np.full(n, 0.3),
        "two_levels": (rng.random(n) < 0.5).astype(float),
        "nan": np.where(rng.random(n) < 0.1, np.nan, rng.random(n)),
    }[kind]
    hit = (rng.random(n) < 0.6).astype(float)
    counts = bs.block_counts(n_bars, BootstrapConfig(150, 7, 0.95, 3))
    for batched, plain in (
        (ws.weighted_auc(score, y, bar, n_bars), ws.weighted_auc(score, y)),
        (ws.weighted_mean(hit, bar, n_bars), ws.weighted_mean(hit)),
        (ws.weighted_balanced_accuracy(hit, y, bar, n_bars), ws.weighted_balanced_accuracy(hit, y)),
    ):
        assert batched.batch is not None
        expected = [plain.fn(c.astype(float)[bar], c.astype(float)) for c in counts]
        assert np.array_equal(batched.batch(counts), expected, equal_nan=True)


def test_the_pair_counts_are_twice_the_mann_whitney_counts_per_two_bars() -> None:
    rng = np.random.default_rng(8)
    bar = np.repeat(np.arange(6), 40)
    y = rng.random(len(bar)) < 0.5
    score = np.round(rng.random(len(bar)), 1)
    level = np.unique(score, return_inverse=True)[1]
    got = pc.pair_counts(level, y, bar, 6, k=4)  # small segments: every kind of pair occurs
    for a in range(6):
        for b in range(6):
            s_pos, s_neg = score[(bar == a) & y], score[(bar == b) & ~y]
            diff = s_pos[:, None] - s_neg[None, :]
            assert got[a, b] == 2 * (diff > 0).sum() + (diff == 0).sum()


def test_block_counts_are_those_of_adding_every_drawn_block() -> None:
    cfg = BootstrapConfig(resamples=50, block_bars=7, confidence=0.95, seed=4)
    rng = np.random.default_rng(cfg.seed)
    n_bars, block = 33, 7
    starts = rng.integers(0, n_bars - block + 1, size=(50, -(-n_bars // block)))
    idx = (starts[:, :, None] + np.arange(block)).reshape(50, -1)[:, :n_bars]
    expected = np.zeros((50, n_bars), dtype=np.int32)
    np.add.at(expected, (np.arange(50)[:, None], idx), 1)
    got = bs.block_counts(n_bars, cfg)
    assert got.dtype == np.int32
    assert np.array_equal(got, expected)


def test_adding_pair_counts_into_a_large_matrix_sums_repeated_cells() -> None:
    keys = np.array([5, 9, 5, (1 << 22) + 3, 9, 5])
    weights = np.array([2.0, 1.0, 1.0, 2.0, 2.0, 1.0])
    for size in (64, (1 << 22) + 8):  # a bincount of the whole matrix, or of the cells hit
        flat = np.zeros(size, dtype=np.float32)
        keep = keys < size
        pc._add_at(flat, keys[keep], weights[keep])
        assert flat[5] == 4.0 and flat[9] == 3.0
        assert flat.sum() == weights[keep].sum()
