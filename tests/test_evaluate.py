"""Evaluation: every contender is scored on the same rows, the metrics equal their textbook
definitions, the rule baselines get honest probabilities, IC figures follow Qlib, metrics.json
stays flat and numeric, and the same inputs give the same bytes."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest
from scipy.stats import spearmanr
from sklearn.metrics import accuracy_score, brier_score_loss, log_loss, roc_auc_score
from train_data import fold_inputs, params, split_dates, synthetic
from updown.assess.backtest import PSR_KEYS
from updown.assess.evaluate import CONTENDERS, evaluate
from updown.assess.metrics import METRICS, resolve_headline
from updown.assess.scoring import Scored, per_bar_corr, ranks_within_bar, targets
from updown.errors import UpdownError
from updown.io import to_json_text
from updown.learn.tables import training_table
from updown.learn.train import train_model

FAST = {
    "num_boost_round": 200,
    "early_stopping_rounds": 20,
    "min_data_in_leaf": 50,
    "num_threads": 1,
}
QUICK_BOOT = {"resamples": 200, "block_bars": 10, "confidence": 0.95, "seed": 0}
# What validate reports when it drops a ticker (reports/validation.json), for the CLI runs.
VALIDATION = {
    "summary": {"tickers_in": 3, "tickers_kept": 2, "tickers_dropped": ["CCC"]},
    "tickers": {
        "AAA": {"status": "ok", "problems": []},
        "BBB": {"status": "ok", "problems": ["dropped 2 of 700 rows break OHLC rules"]},
        "CCC": {"status": "dropped",
                "problems": ["only 40 usable rows, fewer than validate.min_rows=300"]},
    },
}  # fmt: skip


def run_eval(kind: str = "direction", tickers=("AAA", "BBB", "CCC", "DDD"), signal: float = 0.3,
             **evaluate_kw: object):  # fmt: skip
    prices, features, labels = synthetic(kind=kind, tickers=tickers, signal=signal)
    base = params()
    ev_cfg = dataclasses.replace(
        base.evaluate,
        bootstrap=dataclasses.replace(base.evaluate.bootstrap, **QUICK_BOOT),
        **evaluate_kw,
    )
    p = params(split=split_dates(), train=FAST)
    p = dataclasses.replace(p, evaluate=ev_cfg)
    table = training_table(features, labels)
    result = train_model(table, p.split, p.train, kind)
    ev = evaluate(table, fold_inputs(table, p, result), prices, result.task, p.evaluate,
                  result.final.best_iteration, horizon=1, entry="close")  # fmt: skip
    return ev, table, p


@pytest.fixture(scope="module")
def direction():
    return run_eval()


@pytest.fixture(scope="module")
def regression():
    return run_eval(kind="return")


def test_every_contender_is_scored_on_exactly_the_test_rows(direction) -> None:
    ev, table, p = direction
    from updown.learn.train import fold_blocks

    test = table[fold_blocks(table, p.split)[0] == "test"]
    pred = ev.predictions
    assert len(pred) == len(test) == ev.metrics["test"]["rows"]
    assert pred[["ticker", "timestamp"]].equals(
        test[["ticker", "timestamp"]].reset_index(drop=True)
    )
    for name in CONTENDERS:
        for kind in ("score", "value", "up"):
            assert pred[f"{kind}_{name}"].notna().all(), (kind, name)


def test_classification_metrics_equal_their_textbook_definitions(direction) -> None:
    ev, _, _ = direction
    pred, m = ev.predictions, ev.metrics["model"]
    y, p = pred["label"].to_numpy(), pred["value_model"].to_numpy()
    assert m["roc_auc"] == pytest.approx(roc_auc_score(y, p), abs=1e-6)
    assert m["log_loss"] == pytest.approx(log_loss(y, p), abs=1e-6)
    assert m["brier"] == pytest.approx(brier_score_loss(y, p), abs=1e-6)
    assert m["accuracy"] == pytest.approx(accuracy_score(y, p > 0.5), abs=1e-6)
    assert m["tp"] + m["fp"] + m["tn"] + m["fn"] == len(pred)
    assert m["tp"] == int(((p > 0.5) & (y == 1)).sum())


def test_rule_baselines_state_honest_probabilities_not_zero_or_one(direction) -> None:
    ev, _, _ = direction
    for name in ("momentum", "reversal"):
        values = ev.predictions[f"value_{name}"]
        assert values.between(0.3, 0.7).all()
        assert ev.metrics[f"baseline_{name}"]["log_loss"] < 0.75  # a hard 0/1 scores ~18
    # their calls still differ: one calls up exactly where the other calls down (ret_1 != 0)
    pred = ev.predictions
    assert (pred["up_momentum"] != pred["up_reversal"]).mean() > 0.99


def test_the_model_beats_baselines_that_cannot_see_a_planted_signal(direction) -> None:
    ev, _, _ = direction
    assert ev.headline == "roc_auc"
    for name in ("majority", "momentum", "reversal"):
        assert ev.metrics["verdict"][name] == 1, name
        assert ev.comparisons[name].improvement.lo > 0


def test_without_any_signal_the_model_beats_nobody_beyond_the_interval() -> None:
    ev, _, _ = run_eval(signal=0.0)
    assert all(v in (0, -1) for v in ev.metrics["verdict"].values()), ev.metrics["verdict"]


def test_regression_metrics_and_ic_equal_their_definitions(regression) -> None:
    ev, _, _ = regression
    pred, m = ev.predictions, ev.metrics["model"]
    y, f = pred["label"].to_numpy(), pred["value_model"].to_numpy()
    assert m["rmse"] == pytest.approx(np.sqrt(np.mean((f - y) ** 2)), abs=1e-6)
    assert m["mae"] == pytest.approx(np.mean(np.abs(f - y)), abs=1e-6)
    assert m["ic"] == pytest.approx(np.corrcoef(f, y)[0, 1], abs=1e-6)
    assert m["rank_ic"] == pytest.approx(spearmanr(f, y).statistic, abs=1e-6)
    assert ev.headline == "rank_ic_mean"
    assert ev.metrics["baseline_linear"]["rmse"] > 0


def test_per_bar_rank_ic_icir_and_t_stat_follow_qlib(regression) -> None:
    ev, _, _ = regression
    pred = ev.predictions
    by_bar = [
        spearmanr(g["score_model"], g["label"]).statistic for _, g in pred.groupby("timestamp")
    ]
    ric = np.array(by_bar)
    m = ev.metrics["model"]
    assert m["rank_ic_mean"] == pytest.approx(ric.mean(), abs=1e-6)
    assert m["rank_ic_ir"] == pytest.approx(ric.mean() / ric.std(ddof=1), abs=1e-5)
    assert m["rank_ic_t"] == pytest.approx(
        ric.mean() / ric.std(ddof=1) * np.sqrt(len(ric)), abs=1e-4
    )
    pearson = [
        np.corrcoef(g["score_model"], g["label"])[0, 1] for _, g in pred.groupby("timestamp")
    ]
    assert m["ic_mean"] == pytest.approx(np.mean(pearson), abs=1e-6)
    assert ev.metrics["baseline_majority"]["rank_ic_mean"] == 0.0  # a constant cannot rank


def test_per_bar_correlation_handles_ties_constants_and_lonely_bars() -> None:
    bar = np.array([0, 0, 0, 1, 1, 1, 2])
    x = np.array([1.0, 2.0, 2.0, 5.0, 5.0, 5.0, 1.0])
    y = np.array([1.0, 3.0, 2.0, 1.0, 2.0, 3.0, 4.0])
    rx, ry = ranks_within_bar(bar, x), ranks_within_bar(bar, y)
    got = per_bar_corr(bar, rx, ry, 3)
    assert got[0] == pytest.approx(spearmanr(x[:3], y[:3]).statistic)
    assert got[1] == 0.0  # constant score
    assert np.isnan(got[2])  # one ticker: no cross-section
    scored = Scored(
        pd.DataFrame({"score_m": x}), "m",
        targets(pd.DataFrame({"label": y, "timestamp": bar, "forward_return": y}), "regression"),
    )  # fmt: skip
    assert METRICS["rank_ic_mean"].point(scored) == pytest.approx(np.mean([got[0], 0.0]))


def test_metrics_json_is_numbers_at_most_two_levels_deep_and_rounded(direction) -> None:
    ev, _, _ = direction
    for section, values in ev.metrics.items():
        assert isinstance(values, dict), section
        for key, v in values.items():
            if v is None:  # only a figure the data cannot give: a PSR on too few bars, ...
                assert section.startswith("backtest_") and key in (*PSR_KEYS, "break_even_bps")
                continue
            assert isinstance(v, int | float) and not isinstance(v, bool), (section, key, v)
            if isinstance(v, float):
                assert round(v, 6) == v
    for key in ("model", "baseline_majority", "baseline_momentum", "baseline_reversal",
                "baseline_linear", "bootstrap_roc_auc", "verdict", "backtest_model",
                "backtest_buy_and_hold", "test", "signal_model", "signal_linear"):  # fmt: skip
        assert key in ev.metrics, key
    for key in (*PSR_KEYS, "break_even_bps", "sharpe_at_5bp", "ann_return_at_20bp"):
        assert key in ev.metrics["backtest_model"], key
    b = ev.metrics["bootstrap_roc_auc"]
    assert b["model_lo"] <= ev.metrics["model"]["roc_auc"] <= b["model_hi"]


def test_two_evaluations_give_byte_identical_metrics() -> None:
    a, _, _ = run_eval(tickers=("AAA", "BBB"))
    b, _, _ = run_eval(tickers=("AAA", "BBB"))
    assert to_json_text(a.metrics) == to_json_text(b.metrics)


def test_one_ticker_backtests_long_flat_and_headlines_a_time_series_rank_ic() -> None:
    ev, _, _ = run_eval(kind="return", tickers=("AAA",))
    assert ev.headline == "rank_ic"
    assert ev.backtest.mode == "long_flat"
    assert "rank_ic_mean" not in ev.metrics["model"]
    assert ev.metrics["backtest_model"]["exposure"] <= 1.0


def test_a_cross_sectional_headline_on_one_ticker_and_log_loss_on_returns_are_refused() -> None:
    with pytest.raises(UpdownError, match="needs several tickers"):
        resolve_headline("rank_ic_mean", "regression", 1)
    with pytest.raises(UpdownError, match="log_loss is not defined for a regression label"):
        run_eval(kind="return", tickers=("AAA", "BBB"), headline="log_loss")


def test_walk_forward_scores_each_fold_with_its_own_model_and_pools_the_test_rows() -> None:
    from test_train import walk_forward_params

    prices, features, labels = synthetic(n_bars=900, tickers=("AAA", "BBB", "CCC"))
    p = walk_forward_params(900)
    p = dataclasses.replace(
        p, evaluate=dataclasses.replace(
            p.evaluate, bootstrap=dataclasses.replace(p.evaluate.bootstrap, **QUICK_BOOT)
        )
    )  # fmt: skip
    table = training_table(features, labels)
    result = train_model(table, p.split, p.train, "direction")
    folds = fold_inputs(table, p, result)
    ev = evaluate(
        table,
        folds,
        prices,
        result.task,
        p.evaluate,
        result.final.best_iteration,
        horizon=1,
        entry="close",
    )
    pred = ev.predictions
    tested = sum(int((f.blocks == "test").sum()) for f in folds)
    assert len(pred) == tested and not pred.duplicated(["ticker", "timestamp"]).any()
    assert sorted(pred["fold"].unique()) == [1, 2, 3]
    import lightgbm as lgb

    for f in folds:  # each fold's rows carry that fold's model's predictions
        part = pred[pred["fold"] == f.fold]
        rows = table.loc[(f.blocks == "test").to_numpy()]
        booster = lgb.Booster(model_str=f.model_text)
        assert np.allclose(part["value_model"], booster.predict(rows[booster.feature_name()]))
        assert (
            pred.loc[pred["fold"] == f.fold, "timestamp"].min()
            > table.loc[(f.blocks == "train").to_numpy(), "timestamp"].max()
        )
    assert ev.metrics["test"]["folds"] == 3
    # the diagnostics speak for the weakest fold: the fewest rounds any fold's model kept
    assert ev.metrics["diagnostics"]["rounds_kept"] == min(f.best_iteration for f in result.folds)
    for k in (1, 2, 3):
        assert set(ev.metrics[f"fold_{k}"]) == {"rows", *CONTENDERS}
    assert sum(ev.metrics[f"fold_{k}"]["rows"] for k in (1, 2, 3)) == len(pred)
    assert [f.fold for f in ev.context.folds] == [1, 2, 3]
    for f in ev.context.folds:  # the report's fold table is metrics.json's fold sections
        assert ev.metrics[f"fold_{f.fold}"]["rows"] == f.rows


def write_inputs(where, n_bars: int = 700, kind: str = "direction"):
    import shutil

    from conftest import REPO, set_params

    prices, features, labels = synthetic(n_bars=n_bars, tickers=("AAA", "BBB"), kind=kind)
    for name, frame in (("prices", prices), ("features", features), ("labels", labels)):
        frame.to_parquet(where / f"{name}.parquet")
    (where / "validation.json").write_text(to_json_text(VALIDATION))
    shutil.copy(REPO / "params.yaml", where / "params.yaml")
    d = split_dates(n_bars)
    set_params(where, {
        "split.train_end": str(d["train_end"]), "split.valid_end": str(d["valid_end"]),
        "split.mode": "walk_forward", "split.walk_forward.folds": 2,
        "split.walk_forward.valid_bars": 80, "evaluate.bootstrap.resamples": 200,
        **{f"train.{k}": v for k, v in FAST.items()},
    })  # fmt: skip


def run_cli(where, out: str) -> None:
    from conftest import run

    o = where / out
    run(["updown", "train", "--features", "features.parquet", "--labels", "labels.parquet",
         "--model", f"{out}/model.txt", "--folds", f"{out}/folds", "--baselines",
         f"{out}/baselines.json", "--curve", f"{out}/train_curve.csv"], where)  # fmt: skip
    run(["updown", "evaluate", "--features", "features.parquet", "--labels", "labels.parquet",
         "--prices", "prices.parquet", "--model", f"{out}/model.txt", "--folds", f"{out}/folds",
         "--baselines", f"{out}/baselines.json", "--validation", "validation.json",
         "--metrics", f"{out}/metrics.json", "--headline", f"{out}/headline.json",
         "--plots", f"{out}/plots", "--predictions", f"{out}/predictions.parquet",
         "--report", f"{out}/report.html"], where)  # fmt: skip
    assert o.is_dir()


@pytest.mark.slow
def test_the_cli_writes_every_fold_every_plot_and_the_same_bytes_twice(tmp_path) -> None:
    write_inputs(tmp_path)
    run_cli(tmp_path, "a")
    run_cli(tmp_path, "b")
    a, b = tmp_path / "a", tmp_path / "b"
    assert sorted(p.name for p in (a / "folds").iterdir()) == [
        "curves.csv",
        "fold_01.txt",
        "fold_02.txt",
    ]
    assert (a / "model.txt").read_text() == (a / "folds/fold_02.txt").read_text()
    plots = ("roc", "calibration", "confusion", "importance", "equity", "portfolios", "cost_curve",
             "signal_decay", "signal_quantiles")  # fmt: skip
    for name in plots:
        assert (a / "plots" / f"{name}.csv").stat().st_size > 0, name
    pngs = sorted(p.stem for p in (a / "plots").glob("*.png"))
    assert pngs == sorted([*plots, "loss_curve"])
    html = (a / "report.html").read_text()
    assert html.count('src="data:image/png;base64,') == len(pngs)
    assert 'id="signal-rank-ic"' in html and 'id="plot-signal_decay"' in html
    assert "Portfolios and turnover" in html and "Cost curve" in html
    assert "Walk-forward folds" in html and "Does the model beat its baselines?" in html
    # the tickers validate dropped, and why (reports/validation.json)
    assert "<b>CCC</b>: only 40 usable rows, fewer than validate.min_rows=300" in html
    assert "BBB (kept): dropped 2 of 700 rows break OHLC rules" in html
    for rel in ("model.txt", "metrics.json", "baselines.json", "train_curve.csv", "report.html",
                "folds/fold_01.txt", "plots/equity.csv", "plots/roc.png"):  # fmt: skip
        assert (a / rel).read_bytes() == (b / rel).read_bytes(), rel


@pytest.mark.parametrize("ties", [False, True])
def test_the_roc_plot_points_are_sklearns_roc_curve_to_the_bit(ties):
    from sklearn.metrics import roc_curve
    from updown.assess.plots import roc_points

    rng = np.random.default_rng(5)
    for n in (3, 40, 5000):
        score = rng.normal(size=n).round(1 if ties else 12)
        up = rng.random(n) < 0.5 + 0.2 * np.tanh(score)
        up[:2] = [True, False]
        fpr, tpr, _ = roc_curve(up, score)
        ours = roc_points(up, score)
        assert np.array_equal(ours[0], fpr) and np.array_equal(ours[1], tpr)
