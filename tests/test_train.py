"""Training: the loss follows the label, early stopping watches the validation block, every
LightGBM knob reaches LightGBM, baselines are plain numbers fitted on the training rows only,
and the same inputs give the same bytes."""

from __future__ import annotations

import dataclasses
import json

import lightgbm as lgb
import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score
from train_data import params, split_dates, synthetic
from updown.contract import feature_columns
from updown.errors import UpdownError
from updown.learn.tables import training_table
from updown.learn.train import (
    fold_blocks,
    lightgbm_params,
    objective_and_metric,
    train_model,
)

FAST = {
    "num_boost_round": 300,
    "early_stopping_rounds": 20,
    "min_data_in_leaf": 50,
    "num_threads": 1,
}


def fit(kind: str = "direction", signal: float = 0.3, seed: int = 0, **train: object):
    _, features, labels = synthetic(kind=kind, signal=signal, seed=seed)
    p = params(split=split_dates(), train={**FAST, **train})
    table = training_table(features, labels)
    return p, table, train_model(table, p.split, p.train, kind)


@pytest.mark.parametrize(
    ("kind", "objective", "metric"),
    [
        ("direction", "binary", "binary_logloss"),
        ("triple_barrier", "binary", "binary_logloss"),
        ("return", "regression", "l2"),
    ],
)
def test_the_loss_follows_the_label_kind(kind: str, objective: str, metric: str) -> None:
    _, _, result = fit(kind=kind)
    assert (result.objective, result.metric) == (objective, metric)
    booster = lgb.Booster(model_str=result.final.model_text)
    assert f"[objective: {objective}" in booster.model_to_string()


def test_huber_is_accepted_for_returns_and_a_regression_loss_is_refused_for_direction() -> None:
    p = params(train={"objective": "huber"})
    assert objective_and_metric(p.train, "regression") == ("huber", "huber")
    with pytest.raises(UpdownError, match=r"train.objective: 'huber' does not fit"):
        objective_and_metric(p.train, "classification")


def test_every_lightgbm_knob_and_extra_parameters_reach_the_booster() -> None:
    _, _, result = fit(
        num_leaves=7, lambda_l1=0.5, max_depth=4, extra={"min_sum_hessian_in_leaf": 0.01}
    )
    text = result.final.model_text
    for fragment in (
        "[num_leaves: 7]",
        "[lambda_l1: 0.5]",
        "[max_depth: 4]",
        "[min_sum_hessian_in_leaf: 0.01]",
        "[deterministic: 1]",
    ):
        assert fragment in text, fragment


def test_an_extra_parameter_may_not_shadow_a_named_knob() -> None:
    p = params(train={"extra": {"learning_rate": 0.5}})
    with pytest.raises(UpdownError, match=r"train\.extra: learning_rate has its own key"):
        lightgbm_params(p.train, "binary", "binary_logloss")


def test_early_stopping_keeps_the_best_validation_round_and_the_curve_has_every_round() -> None:
    _, _, result = fit(signal=0.0, learning_rate=0.3)  # pure noise: validation loss soon rises
    f = result.final
    curve = f.curve
    assert list(curve.columns) == ["iteration", "train_loss", "valid_loss"]
    assert curve["iteration"].tolist() == list(range(1, len(curve) + 1))
    assert len(curve) == f.best_iteration + 20 < 300  # stopped 20 rounds after the best
    assert curve["valid_loss"].idxmin() + 1 == f.best_iteration
    assert curve["train_loss"].iloc[-1] < curve["train_loss"].iloc[0]  # it did fit the noise


def test_the_model_finds_a_planted_signal_out_of_sample() -> None:
    p, table, result = fit(signal=0.5)
    test = table[fold_blocks(table, p.split)[0] == "test"]
    booster = lgb.Booster(model_str=result.final.model_text)
    auc = roc_auc_score(test["label"], booster.predict(test[booster.feature_name()]))
    assert auc > 0.6
    gain = dict(zip(booster.feature_name(), booster.feature_importance("gain"), strict=True))
    assert gain["hint"] > 5 * max(gain["noise"], 1e-9)


def test_baselines_are_json_numbers_fitted_on_the_training_rows_only() -> None:
    p, table, result = fit()
    blocks = fold_blocks(table, p.split)[0]
    train = table[blocks == "train"]
    b = result.final.baselines
    json.loads(json.dumps(b))  # plain JSON: no pickled object anywhere
    assert b["majority"]["value"] == pytest.approx(train["label"].mean())
    rising = train["ret_1"].fillna(0) > 0
    assert b["momentum"]["after_up"] == pytest.approx(train.loc[rising, "label"].mean())
    assert b["momentum"]["after_down"] == pytest.approx(train.loc[~rising, "label"].mean())
    assert b["linear"]["kind"] == "logistic"
    assert b["linear"]["features"] == feature_columns(list(table.columns))
    assert result.final.rows == {
        "train": len(train),
        "valid": int((blocks == "valid").sum()),
        "baselines": len(train),  # under train.baseline_max_rows: every training row
    }


def test_baselines_fit_on_at_most_the_cap_spread_over_the_whole_training_block(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import updown.learn.train

    seen: list[pd.DataFrame] = []
    real = updown.learn.train.fit_baselines

    def spy(train: pd.DataFrame, *args: object, **kwargs: object) -> dict[str, object]:
        seen.append(train)
        return real(train, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(updown.learn.train, "fit_baselines", spy)
    cap = 1000
    p, table, result = fit(baseline_max_rows=cap)
    train = table[fold_blocks(table, p.split)[0] == "train"]
    assert len(train) > 2 * cap  # the cap binds
    (fitted,) = seen
    assert len(fitted) == cap == result.final.rows["baselines"]
    assert result.final.rows["train"] == len(train)
    assert fitted.index.isin(train.index).all() and fitted.index.is_unique
    # Evenly spaced through the block: every ticker, from its first training bar to its last,
    # with no gap much wider than the block's rows / cap.
    step = (len(train) - 1) / (cap - 1)
    positions = np.flatnonzero(train.index.isin(fitted.index))
    assert positions[0] == 0 and positions[-1] == len(train) - 1
    assert np.diff(positions).max() <= np.ceil(step)
    for ticker, rows in train.groupby("ticker"):
        mine = fitted[fitted["ticker"] == ticker]
        assert len(mine) == pytest.approx(len(rows) / step, abs=1)
        first, last = rows["timestamp"].iloc[[0, -1]]
        span = (last - first) * step / len(rows)  # about `step` bars at either end
        assert mine["timestamp"].min() - first <= span and last - mine["timestamp"].max() <= span
    # ...and what is stored is what was fitted on the sample.
    assert result.final.baselines["majority"]["value"] == pytest.approx(fitted["label"].mean())
    assert result.summary("direction", 1, "holdout").folds[0].rows["baselines"] == cap


def test_baseline_max_rows_is_validated_by_the_schema() -> None:
    from conftest import REPO
    from updown.config import build_params
    from updown.safe_yaml import read_yaml

    raw = read_yaml(REPO / "params.yaml")
    assert build_params(raw).train.baseline_max_rows == 250_000
    raw["train"]["baseline_max_rows"] = 10
    with pytest.raises(UpdownError, match=r"train.baseline_max_rows"):
        build_params(raw)
    del raw["train"]["baseline_max_rows"]
    with pytest.raises(UpdownError, match=r"baseline_max_rows"):
        build_params(raw)


def test_a_return_label_gets_a_ridge_baseline_and_conditional_mean_returns() -> None:
    p, table, result = fit(kind="return")
    train = table[fold_blocks(table, p.split)[0] == "train"]
    b = result.final.baselines
    assert b["linear"]["kind"] == "ridge"
    assert b["majority"]["value"] == pytest.approx(train["label"].mean())
    falling = train["ret_1"].fillna(0) < 0
    assert b["reversal"]["after_up"] == pytest.approx(train.loc[falling, "label"].mean())


def test_two_runs_give_byte_identical_models_and_summaries() -> None:
    runs = [fit(seed=3)[2] for _ in range(2)]
    assert runs[0].final.model_text == runs[1].final.model_text
    assert runs[0].summary("direction", 1, "holdout") == runs[1].summary("direction", 1, "holdout")
    assert runs[0].final.curve.equals(runs[1].final.curve)


def test_a_third_direction_class_is_refused_with_the_fix_in_the_message() -> None:
    _, features, labels = synthetic()
    labels.loc[labels.index[::7], "label"] = 2
    p = params(split=split_dates())
    with pytest.raises(UpdownError, match="dead_zone: drop"):
        train_model(training_table(features, labels), p.split, p.train, "direction")


def test_an_unknown_label_kind_and_a_too_short_validation_block_are_named() -> None:
    _, features, labels = synthetic(n_bars=300)
    table = training_table(features, labels)
    p = params(split=split_dates(300))
    with pytest.raises(UpdownError, match="label_kind 'colour'"):
        train_model(table, p.split, p.train, "colour")
    late = params(
        split={
            **split_dates(300),
            "train_end": pd.Timestamp("2011-01-03").date(),
            "valid_end": pd.Timestamp("2011-01-04").date(),
        }
    )
    with pytest.raises(UpdownError, match="valid block"):
        train_model(table, late.split, late.train, "direction")


def test_training_never_sees_a_row_whose_label_reaches_into_validation() -> None:
    _, features, labels = synthetic(n_bars=400)
    labels["label_end"] = labels["timestamp"] + pd.Timedelta(days=10)  # long label windows
    table = training_table(features, labels)
    p = params(split=split_dates(400))
    blocks = fold_blocks(table, p.split)[0]
    boundary = pd.Timestamp(p.split.train_end, tz="UTC") + pd.Timedelta(days=1)
    assert (table.loc[blocks == "train", "label_end"] < boundary).all()
    assert np.isin(["train", "valid", "test"], blocks.unique()).all()


def walk_forward_params(n_bars: int, folds: int = 3, **wf: object):
    base = params(split={**split_dates(n_bars), "mode": "walk_forward"}, train=FAST)
    w = dataclasses.replace(base.split.walk_forward, folds=folds, valid_bars=100, **wf)
    return dataclasses.replace(base, split=dataclasses.replace(base.split, walk_forward=w))


def test_walk_forward_retrains_each_fold_on_data_before_its_test_block() -> None:
    _, features, labels = synthetic(n_bars=900)
    p = walk_forward_params(900)
    table = training_table(features, labels)
    result = train_model(table, p.split, p.train, "direction")
    blocks = fold_blocks(table, p.split)
    assert [f.fold for f in result.folds] == [1, 2, 3]
    for b, f in zip(blocks, result.folds, strict=True):
        assert (
            table.loc[b == "train", "label_end"].max() < table.loc[b == "valid", "timestamp"].min()
        )
        assert (
            table.loc[b == "valid", "label_end"].max() < table.loc[b == "test", "timestamp"].min()
        )
        n_train = int((b == "train").sum())
        assert f.rows == {
            "train": n_train,
            "valid": int((b == "valid").sum()),
            "baselines": n_train,
        }
    assert (
        result.folds[0].rows["train"]
        < result.folds[1].rows["train"]
        < result.folds[2].rows["train"]
    )
    assert result.final is result.folds[-1]  # the deployed model saw the most recent data
    assert len({f.model_text for f in result.folds}) == 3
    curves = result.fold_curves()
    assert sorted(curves["fold"].unique()) == [1, 2, 3]
    assert [f.fold for f in result.summary("direction", 1, "walk_forward").folds] == [1, 2, 3]


def test_the_ridge_baseline_equals_sklearn_and_stays_quiet_on_collinear_features() -> None:
    import warnings

    from sklearn.linear_model import Ridge
    from updown.learn.baselines import ridge

    rng = np.random.default_rng(0)
    z = rng.standard_normal((3000, 6))
    z[:, 5] = z[:, 4] + 1e-7 * rng.standard_normal(3000)  # two windows of one family
    y = 0.002 + z @ rng.standard_normal(6) * 0.01 + 0.01 * rng.standard_normal(3000)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        coef, intercept = ridge(z, y, alpha=5.0)
    ref = Ridge(alpha=5.0).fit(z, y)
    assert np.allclose(coef, ref.coef_, atol=1e-10)
    assert intercept == pytest.approx(ref.intercept_, abs=1e-12)


def test_the_linear_baseline_sits_at_the_optimum_of_its_penalised_loss() -> None:
    # Sums of one return series over 30 windows, as the features' families are: nearly
    # collinear columns leave flat directions in the loss, where L-BFGS stops early (here with
    # a relative gradient of 1e-3); the fitted weights must zero the gradient instead.
    from updown.learn.baselines import fit_linear

    rng = np.random.default_rng(3)
    n = 30000
    r = rng.normal(size=n + 60)
    x = pd.DataFrame({f"ret_{k}": np.convolve(r, np.ones(k), "valid")[:n] for k in range(1, 31)})
    y = pd.Series((0.1 * x["ret_5"] + rng.normal(size=n) > 0).astype(float))
    lin = fit_linear(x, y, "classification", c=0.1)
    z = ((x - np.array(lin["mean"])) / np.array(lin["scale"])).to_numpy()
    w, b = np.array(lin["coef"]), lin["intercept"]
    residual = 1.0 / (1.0 + np.exp(-(z @ w + b))) - y.to_numpy()
    # sklearn's objective, C * (summed log loss) + |w|^2 / 2: its gradient, relative to the
    # size of the data term's
    gradient = np.append(0.1 * z.T @ residual + w, 0.1 * residual.sum())
    assert np.abs(gradient).max() < 3e-4 * 0.1 * np.abs(z.T @ y.to_numpy()).max()


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_the_linear_baselines_standardising_on_threads_equals_the_whole_frame_to_the_bit(
    dtype,
) -> None:
    from updown.learn.baselines import standardise

    rng = np.random.default_rng(5)
    x = pd.DataFrame(rng.standard_normal((5001, 9)) * 3 + 1, columns=[f"f{i}" for i in range(9)])
    x.iloc[rng.integers(0, 5001, 700), 2] = np.nan  # gaps: filled with the median
    x["f4"] = np.nan  # no median at all: filled with 0, then constant
    x["f5"] = 2.5  # constant: scale 1
    x = x.astype(dtype)
    whole = standardise(x, threads=1)
    for threads in (2, 3):
        parts = standardise(x, threads=threads)
        for a, b in zip(whole, parts, strict=True):
            assert a.dtype == b.dtype and a.flags.f_contiguous == b.flags.f_contiguous
            assert np.array_equal(a, b, equal_nan=True)
    assert whole[0][4] == 0 and whole[2][4] == 1 and whole[2][5] == 1
