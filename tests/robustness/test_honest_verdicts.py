"""No setting fakes a verdict: a bootstrap whose blocks the test period cannot hold gives no
interval and no verdict (never "beats"), a setting that can never give a sound interval is
refused with its key, a model that learned nothing is said so in the report's first lines and in
metrics.json and is credited with no win, and the report names the tickers validate dropped."""

from __future__ import annotations

import dataclasses
import html
import json
import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hostile import error_line, updown, write_params
from train_data import fold_inputs, params, split_dates, synthetic
from updown.assess import bootstrap as bs
from updown.assess import weighted as ws
from updown.assess.data_notes import data_notes
from updown.assess.diagnostics import diagnose
from updown.assess.evaluate import Evaluation, evaluate
from updown.assess.report import data_section, render_report
from updown.config import BootstrapConfig
from updown.errors import UpdownError
from updown.io import to_json_text
from updown.learn.baselines import BASELINES
from updown.learn.tables import training_table
from updown.learn.train import TrainResult, train_model

FAST = {"num_boost_round": 200, "early_stopping_rounds": 20, "min_data_in_leaf": 50,
        "num_threads": 1}  # fmt: skip
BOOT = {"resamples": 200, "block_bars": 10, "confidence": 0.95, "seed": 0}
N_BARS = 1200  # 238 labelled test bars (the last 20%): blocks of at most 11 leave 20 of them
LEARNED_NOTHING = "the model learned nothing the baselines do not know"
VALIDATION = {
    "summary": {
        "tickers_in": 5, "tickers_kept": 4, "tickers_dropped": ["EEE"],
        "notes": ["volume features dropped for the whole run: ^GSPC has no volume",
                  "BBB: 1 gap longer than validate.max_gap_days, split into 2 segments"],
    },
    "tickers": {
        "AAA": {"status": "ok", "problems": []},
        "BBB": {"status": "ok", "problems": ["dropped 3 of 1200 rows break OHLC rules"]},
        "EEE": {"status": "dropped",
                "problems": ["only 40 usable rows, fewer than validate.min_rows=300"]},
    },
}  # fmt: skip


def _train(train: dict[str, object]) -> tuple[pd.DataFrame, pd.DataFrame, object, TrainResult]:
    prices, features, labels = synthetic(n_bars=N_BARS)
    p = params(split=split_dates(N_BARS), train={**FAST, **train})
    table = training_table(features, labels)
    return table, prices, p, train_model(table, p.split, p.train, "direction")


@pytest.fixture(scope="module")
def planted():
    """A model that learns a planted signal (it beats the baselines that cannot see it)."""
    return _train({})


@pytest.fixture(scope="module")
def one_round():
    """The same signal, but boosting keeps a single round: a model that learned next to nothing."""
    return _train({"num_boost_round": 1, "early_stopping_rounds": 0})


def run(trained, horizon: int = 1, **boot: object) -> Evaluation:
    table, prices, p, result = trained
    cfg = dataclasses.replace(
        p.evaluate, bootstrap=dataclasses.replace(p.evaluate.bootstrap, **{**BOOT, **boot})
    )
    folds = fold_inputs(table, p, result)
    return evaluate(table, folds, prices, result.task, cfg, result.final.best_iteration,
                    horizon=horizon)  # fmt: skip


def why(design: bs.Design) -> str:
    """Why there is no interval (the test fails if there is one)."""
    assert design.no_interval is not None, design
    return design.no_interval


def report_of(ev: Evaluation, trained, validation: object = None) -> str:
    summary = trained[3].summary("direction", 1, "holdout")
    return render_report(ev, [], summary, data_notes(validation or {}))


def text(page: str) -> str:
    """What a reader sees: tags and styles removed, entities decoded, spaces collapsed."""
    bare = re.sub(r"<[^>]+>", " ", re.sub(r"<style>.*?</style>", "", page, flags=re.S))
    return html.unescape(re.sub(r"\s+", " ", bare))


def first_lines(page: str) -> str:
    found = re.search(r'<p class="[^"]*" id="summary">(.*?)</p>', page, re.S)
    assert found, page[:2000]
    return text(found.group(1)).strip()


# -- the bootstrap's blocks against the test period ---------------------------------------------


def test_the_planted_signal_beats_the_blind_baselines_with_a_sound_bootstrap(planted) -> None:
    ev = run(planted)
    assert ev.design.no_interval is None and ev.design.blocks == 23.8
    assert ev.metrics["verdict"]["majority"] == 1 and ev.metrics["diagnostics"]["interval"] == 1
    assert not ev.diagnostics.degenerate and ev.metrics["diagnostics"]["degenerate"] == 0
    doc = report_of(ev, planted)
    lead = first_lines(doc)
    iv = ev.intervals["model"]
    assert lead == (
        f"Over 2013-09-10 .. 2014-08-07 (238 bars, 4 tickers), the model's ROC AUC was "
        f"{iv.point:#.3g} (95% interval {iv.lo:#.3g} to {iv.hi:#.3g}); it beat the majority, "
        "momentum and reversal baselines and could not be told apart from the linear (logistic) "
        "baseline."
    )
    assert "The model beats the majority baseline" in text(doc)


def test_a_block_longer_than_the_test_period_gives_no_interval_and_never_beats(planted) -> None:
    ev = run(planted, block_bars=100_000)
    assert "evaluate.bootstrap.block_bars=100000" in why(ev.design)
    assert "set block_bars between 2 and 11" in why(ev.design)
    assert set(ev.metrics["verdict"].values()) == {0}
    assert ev.metrics["diagnostics"]["interval"] == 0
    boot = ev.metrics["bootstrap_roc_auc"]
    assert not [k for k in boot if k.endswith(("_lo", "_hi"))]  # no interval, only the points
    assert boot["vs_majority"] > 0
    doc = report_of(ev, planted)
    assert "beats" not in text(doc).lower() and "it beat" not in text(doc)
    assert "there is no interval and no verdict" in first_lines(doc)
    assert "No verdict against the 4 baselines" in text(doc)


def test_too_few_blocks_in_the_test_period_give_no_interval(planted) -> None:
    assert run(planted, block_bars=11).design.no_interval is None  # 238 bars: 21.6 blocks
    ev = run(planted, block_bars=12)  # 19.8 blocks
    assert "cut the 238 test bars into 19.8 block(s)" in why(ev.design)
    assert "at least 20" in why(ev.design)
    assert set(ev.metrics["verdict"].values()) == {0}


def test_too_few_test_bars_for_the_label_horizon_give_no_interval(planted) -> None:
    d = bs.check_design(59, 2, BootstrapConfig(200, 3, 0.95, 0))
    assert "at least 60 test bars" in why(d) and "split.valid_end" in why(d)
    ev = run(planted, horizon=12, block_bars=13)  # 20 blocks of 13 bars need 260 test bars
    assert "the test period has 238 bars, too few for 20 blocks longer than the label horizon"\
        in why(ev.design)  # fmt: skip
    assert set(ev.metrics["verdict"].values()) == {0}


def test_blocks_no_longer_than_the_label_horizon_are_refused(planted) -> None:
    with pytest.raises(UpdownError, match=r"evaluate\.bootstrap\.block_bars: blocks of 5 bar\(s\)"
                       r" are not longer than the label horizon \(label\.horizon: 5\)"):  # fmt: skip
        bs.check_settings(BootstrapConfig(1000, 5, 0.95, 0), horizon=5)
    bs.check_settings(BootstrapConfig(1000, 6, 0.95, 0), horizon=5)
    with pytest.raises(UpdownError, match="use at least 11"):
        run(planted, horizon=10, block_bars=10)


def test_a_low_confidence_or_too_few_resamples_are_refused() -> None:
    with pytest.raises(UpdownError, match=r"evaluate\.bootstrap\.confidence: 0\.5 is below 0\.9"):
        bs.check_settings(BootstrapConfig(1000, 20, 0.5, 0), horizon=1)
    with pytest.raises(UpdownError, match=r"evaluate\.bootstrap\.resamples: 100 .* at least 200"):
        bs.check_settings(BootstrapConfig(100, 20, 0.95, 0), horizon=1)
    with pytest.raises(UpdownError, match="use at least 1000"):
        bs.check_settings(BootstrapConfig(999, 20, 0.99, 0), horizon=1)
    bs.check_settings(BootstrapConfig(200, 20, 0.95, 0), horizon=1)


def test_one_block_would_collapse_every_interval_to_a_point() -> None:
    """Why the bounds exist: with one block every resample is the test period itself."""
    rng = np.random.default_rng(0)
    bar = np.repeat(np.arange(100), 2)
    y = rng.random(200) < 0.5
    scorers = {
        "model": ws.weighted_auc(rng.random(200), y),
        "coin": ws.weighted_auc(rng.random(200), y),
    }
    iv, cmp = bs.paired_bootstrap(scorers, bar, 100, "roc_auc", BootstrapConfig(200, 100, 0.95, 0))
    assert iv["model"].lo == iv["model"].hi == iv["model"].point
    assert cmp["coin"].verdict != 0  # a "verdict" between two coin flips: what the guard refuses
    assert bs.check_design(100, 1, BootstrapConfig(200, 100, 0.95, 0)).no_interval


# -- a model that learned nothing ---------------------------------------------------------------


def test_a_model_that_kept_one_round_is_said_to_have_learned_nothing(one_round) -> None:
    ev = run(one_round)
    d = ev.metrics["diagnostics"]
    assert d["rounds_kept"] == 1 and d["few_rounds"] == 1 and d["degenerate"] == 1
    assert d["distinct_scores"] <= 15  # one tree of at most 15 leaves
    assert 0 < d["score_spread"] < 1 and d["majority_call_share"] >= 0.5
    assert set(d) >= {"rounds_kept", "majority_call_share", "distinct_scores", "score_spread",
                      "baseline_spread", "spread_ratio", "tied_bar_share"}  # fmt: skip
    for v in d.values():  # numbers only, rounded
        assert isinstance(v, int | float) and not isinstance(v, bool) and round(v, 6) == v
    # the bootstrap sees a win, but no win is claimed for a model that learned nothing
    won = [n for n, c in ev.comparisons.items() if c.verdict == 1]
    assert won, ev.comparisons
    assert all(ev.metrics["verdict"][n] == 0 for n in won)
    assert d["wins_withheld"] == len(won)
    doc = report_of(ev, one_round)
    lead = first_lines(doc)
    assert LEARNED_NOTHING in lead and "it kept 1 boosting round" in lead
    assert "it beat" not in lead
    assert "not counted as a win" in text(doc) and "The model beats" not in text(doc)
    assert doc.index('id="summary"') < doc.index("<h2>")  # the first lines of the page


def test_without_an_interval_a_model_that_learned_nothing_is_still_said_so(one_round) -> None:
    ev = run(one_round, block_bars=100_000)
    lead = first_lines(report_of(ev, one_round))
    assert "there is no interval and no verdict" in lead and LEARNED_NOTHING in lead
    assert ev.metrics["diagnostics"]["degenerate"] == 1
    assert set(ev.metrics["verdict"].values()) == {0}


def _pred(value: np.ndarray, bar: np.ndarray, linear: np.ndarray) -> pd.DataFrame:
    cols = {"value_model": value, "score_model": value, "up_model": value > 0.5}
    for name in BASELINES:
        v = linear if name == "linear" else np.full(len(value), 0.55)
        cols.update({f"value_{name}": v, f"score_{name}": v, f"up_{name}": v > 0.5})
    return pd.DataFrame(cols)


def test_a_single_call_and_flat_scores_are_flagged_with_their_numbers() -> None:
    rng = np.random.default_rng(1)
    bar = np.repeat(np.arange(300), 2)
    linear = 0.5 + 0.07 * rng.standard_normal(600)
    all_up = diagnose(_pred(0.52 + 0.05 * rng.random(600), bar, linear), bar, 40, BASELINES)
    assert all_up.single_call and all_up.majority_call_share == 1.0 and all_up.degenerate
    assert not all_up.few_rounds and not all_up.flat_scores
    narrow = diagnose(_pred(0.5 + 0.003 * rng.standard_normal(600), bar, linear), bar, 40,
                      BASELINES)  # fmt: skip
    assert narrow.narrow and narrow.flat_scores and narrow.degenerate
    assert narrow.spread_ratio < 0.1 and narrow.baseline == "linear"
    ties = np.repeat(rng.random(300), 2)  # both tickers get the same score on every bar
    tied = diagnose(_pred(ties, bar, linear), bar, 40, BASELINES)
    assert tied.tied_bar_share == 1.0 and tied.tied and tied.degenerate
    learned = diagnose(_pred(linear + 0.01 * rng.standard_normal(600), bar, linear), bar, 40,
                       BASELINES)  # fmt: skip
    assert not learned.degenerate, learned


# -- what validate dropped ----------------------------------------------------------------------


def test_the_report_names_the_dropped_tickers_why_and_the_validation_notes(planted) -> None:
    doc = report_of(run(planted), planted, VALIDATION)
    body = text(data_section(data_notes(VALIDATION)))
    assert "Validation dropped 1 of 5 tickers: EEE : only 40 usable rows" in body
    assert "fewer than validate.min_rows=300" in body
    assert "BBB (kept): dropped 3 of 1200 rows break OHLC rules" in body
    assert "volume features dropped for the whole run" in body and "split into 2 segments" in body
    assert body in text(doc)


@pytest.mark.parametrize("report", [{}, None, [], {"summary": {}}, {"tickers": {"A": "x"}},
                                    {"summary": {"tickers_dropped": ["X"], "notes": "one note"}}])  # fmt: skip
def test_a_validation_report_missing_its_keys_still_renders(report: object) -> None:
    body = text(data_section(data_notes(report)))
    assert body.startswith(" Data Validation ")
    if isinstance(report, dict) and "summary" in report and report["summary"]:
        assert "X : no reason recorded" in body and "one note" in body


# -- through the CLI ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def trained_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    where = tmp_path_factory.mktemp("honest")
    prices, features, labels = synthetic(n_bars=N_BARS, tickers=("AAA", "BBB"))
    for name, frame in (("prices", prices), ("features", features), ("labels", labels)):
        frame.to_parquet(where / f"{name}.parquet")
    (where / "validation.json").write_text(to_json_text(VALIDATION))
    d = split_dates(N_BARS)
    write_params(where / "params.yaml", {
        "split.train_end": str(d["train_end"]), "split.valid_end": str(d["valid_end"]),
        **{f"train.{k}": v for k, v in FAST.items()}, "evaluate.bootstrap.resamples": 200,
        "evaluate.bootstrap.block_bars": 10,
    })  # fmt: skip
    done = updown("train", "--features", "features.parquet", "--labels", "labels.parquet",
                  "--model", "model.txt", "--folds", "folds", "--baselines", "baselines.json",
                  "--curve", "curve.csv", cwd=where)  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    return where


def cli_evaluate(where: Path, params: str, out: str):
    return updown(
        "evaluate", "--params", params, "--features", "features.parquet", "--labels",
        "labels.parquet", "--prices", "prices.parquet", "--model", "model.txt", "--folds", "folds",
        "--baselines", "baselines.json", "--validation", "validation.json", "--metrics",
        f"{out}/metrics.json", "--plots", f"{out}/plots", "--predictions",
        f"{out}/predictions.parquet", "--report", f"{out}/report.html", cwd=where,
    )  # fmt: skip


@pytest.mark.slow
def test_the_cli_with_a_huge_block_writes_no_beats_and_names_the_dropped_ticker(
    trained_project: Path,
) -> None:
    where = trained_project
    write_params(where / "huge.yaml", {"evaluate.bootstrap.block_bars": 100_000},
                 base=where / "params.yaml")  # fmt: skip
    done = cli_evaluate(where, "huge.yaml", "huge")
    assert done.returncode == 0, done.stderr[-3000:]
    metrics = json.loads((where / "huge/metrics.json").read_text())
    assert set(metrics["verdict"].values()) == {0} and metrics["diagnostics"]["interval"] == 0
    doc = (where / "huge/report.html").read_text()
    assert "beats" not in text(doc).lower()
    assert "no interval" in first_lines(doc)
    assert "EEE" in doc and "fewer than validate.min_rows=300" in doc


@pytest.mark.slow
def test_the_cli_refuses_blocks_no_longer_than_the_horizon_in_one_line(
    trained_project: Path, tmp_path: Path
) -> None:
    # The schema already refuses 1-bar blocks; a 3-bar label needs blocks of 4 bars or more.
    where = tmp_path / "trained"
    shutil.copytree(trained_project, where)
    summary = json.loads((where / "baselines.json").read_text())
    (where / "baselines.json").write_text(json.dumps({**summary, "horizon": 3}))
    write_params(where / "one.yaml", {"evaluate.bootstrap.block_bars": 3},
                 base=where / "params.yaml")  # fmt: skip
    done = cli_evaluate(where, "one.yaml", "one")
    error_line(done, "evaluate", "evaluate.bootstrap.block_bars: blocks of 3 bar(s)",
               "label.horizon: 3", "use at least 4")  # fmt: skip
    assert not (where / "one").exists()  # refused before anything was written
