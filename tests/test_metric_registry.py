"""One metric registry: evaluate reports exactly its metrics, every figure in metrics.json has
an entry with a name and a glossary, and the params schema offers exactly its headline-capable
metrics."""

from __future__ import annotations

import dataclasses

import pytest
import yaml
from conftest import REPO
from train_data import fold_inputs, params, split_dates, synthetic
from updown.assess.evaluate import CONTENDERS, evaluate, section_of
from updown.assess.metrics import HEADLINES, METRICS, REGISTRY, reported, resolve_headline
from updown.contract import CLASSIFICATION, REGRESSION
from updown.errors import UpdownError
from updown.learn.tables import training_table
from updown.learn.train import train_model

CONFUSION = {"tn", "fp", "fn", "tp"}  # the model's call counts, beside its metrics
FAST = {"num_boost_round": 60, "early_stopping_rounds": 10, "min_data_in_leaf": 50,
        "num_threads": 1}  # fmt: skip


def test_the_schema_offers_auto_and_exactly_the_registry_headlines() -> None:
    schema = yaml.safe_load((REPO / "workflow/schemas/params.schema.yaml").read_text())
    enum = schema["properties"]["evaluate"]["properties"]["headline"]["enum"]
    assert enum == ["auto", *HEADLINES]


def test_every_entry_is_complete_and_named_once() -> None:
    assert len(METRICS) == len(REGISTRY)
    for m in REGISTRY:
        assert m.name and m.display and m.glossary.endswith("."), m.name
        assert m.tasks and m.tasks <= {CLASSIFICATION, REGRESSION}, m.name
        assert m.headline == (m.scorer is not None)
    assert {m.name for m in REGISTRY if m.headline} == set(HEADLINES)


def test_auto_headlines_are_registry_metrics_of_their_task() -> None:
    for task, n_tickers in ((CLASSIFICATION, 1), (CLASSIFICATION, 3), (REGRESSION, 1),
                            (REGRESSION, 3)):  # fmt: skip
        m = resolve_headline("auto", task, n_tickers)
        assert m.headline and m in reported(task, n_tickers > 1)
    with pytest.raises(UpdownError, match="unknown metric 'ece'"):
        resolve_headline("ece", CLASSIFICATION, 3)  # a point figure, never bootstrapped


@pytest.fixture(scope="module", params=["direction", "return"])
def evaluation(request):
    prices, features, labels = synthetic(n_bars=700, tickers=("AAA", "BBB", "CCC"),
                                         kind=request.param)  # fmt: skip
    p = params(split=split_dates(700), train=FAST)
    boot = dataclasses.replace(p.evaluate.bootstrap, resamples=200, block_bars=7)
    p = dataclasses.replace(p, evaluate=dataclasses.replace(p.evaluate, bootstrap=boot))
    table = training_table(features, labels)
    result = train_model(table, p.split, p.train, request.param)
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
    return ev, result.task


def test_every_metric_in_metrics_json_has_a_registry_entry_with_a_glossary(evaluation) -> None:
    ev, task = evaluation
    for name in CONTENDERS:
        section = ev.metrics[section_of(name)]
        figures = set(section) - (CONFUSION if name == "model" else set())
        assert figures, name
        for key in figures:
            assert key in METRICS, (name, key)
            assert METRICS[key].glossary, key
            assert task in METRICS[key].tasks, (task, key)
    headline = METRICS[ev.headline]
    assert headline.headline and f"bootstrap_{ev.headline}" in ev.metrics


def test_evaluate_reports_exactly_the_registry_metrics_of_its_task(evaluation) -> None:
    ev, task = evaluation
    expected = [m.name for m in reported(task, several=True)]
    # metrics.json drops an undefined (NaN) figure; the model defines them all here
    assert [k for k in ev.metrics["model"] if k not in CONFUSION] == expected
