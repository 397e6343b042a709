"""`updown evaluate`: the model and the baselines on the test rows: metrics, plots, report."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

import numpy as np
import pandas as pd

from updown.assess.backtest_plots import write_backtest_plots
from updown.assess.bootstrap import check_settings
from updown.assess.data_notes import data_notes
from updown.assess.evaluate import FoldInput, evaluate
from updown.assess.headline import headline
from updown.assess.plots import write_plots
from updown.assess.plots_signal import signal_plots
from updown.assess.report import render_report
from updown.config import load_params
from updown.contract import task_for
from updown.errors import UpdownError
from updown.io import read_json, read_parquet, write_json, write_parquet, write_text
from updown.learn.periods import block_periods
from updown.learn.split import scored_blocks
from updown.learn.summary import TrainingSummary
from updown.learn.tables import read_training_table, training_keys
from updown.learn.train import fold_blocks
from updown.returns import resolve_entry

log = logging.getLogger("updown")


def fold_inputs(
    a: argparse.Namespace, summary: TrainingSummary, blocks: list[pd.Series]
) -> list[FoldInput]:
    """Each trained fold's test-time inputs, checked against the split the params give now."""
    if len(blocks) != len(summary.folds):
        raise UpdownError(
            f"{a.folds}: {len(summary.folds)} trained fold(s), but the split now gives "
            f"{len(blocks)}: rerun train"
        )
    folds = []
    for b, f in zip(blocks, summary.folds, strict=True):
        path = Path(a.folds) / f"fold_{f.fold:02d}.txt"
        if not path.is_file():
            raise UpdownError(f"{path}: fold model missing: rerun train")
        folds.append(FoldInput(f.fold, b, path.read_text(), f.baselines))
    return folds


def run(a: argparse.Namespace) -> None:
    params = load_params(a.params)
    summary = TrainingSummary.from_json(read_json(a.baselines), a.baselines)
    check_settings(params.evaluate.bootstrap, summary.horizon)  # before any data is read
    notes = data_notes(read_json(a.validation))
    labels = read_parquet(a.labels)
    kind = labels.attrs.get("label_kind", params.label.kind)
    if kind != summary.label_kind:
        raise UpdownError(
            f"{a.baselines}: trained on {summary.label_kind!r} labels but {a.labels} "
            f"holds {kind!r}: rerun train"
        )
    # The folds come from the label columns alone; only the test rows' features are read.
    keys, feature_rows = training_keys(a.features, labels)
    blocks = fold_blocks(keys, params.split)
    periods = block_periods(keys, blocks)  # every block's dates, for the report's header
    blocks = scored_blocks(blocks, params.evaluate.block, params.split.mode)
    tested = np.flatnonzero(np.logical_or.reduce([(b == "test").to_numpy() for b in blocks]))
    table = read_training_table(
        a.features, labels, keep=tested, keys=(keys, feature_rows), threads=params.evaluate.threads
    )
    blocks = [b.iloc[tested].reset_index(drop=True) for b in blocks]
    folds = fold_inputs(a, summary, blocks)
    model_text = Path(a.model).read_text()
    ev = evaluate(
        table,
        folds,
        read_parquet(a.prices),
        task_for(kind),
        params.evaluate,
        summary.best_iteration,
        horizon=summary.horizon,
        entry=str(
            labels.attrs.get("entry")
            or resolve_entry(params.label.entry, params.evaluate.backtest.execution)
        ),
    )
    # Which block the figures describe: a sweep reads it back, the report words it.
    ev.metrics["scored_block"] = params.evaluate.block
    ev.metrics["headline"] = ev.headline
    curves = pd.read_csv(Path(a.folds) / "curves.csv")
    figures = write_plots(
        ev,
        curves,
        model_text,
        Path(a.plots),
        params.evaluate.calibration_bins,
        loss_name=summary.metric,
    )
    figures += signal_plots(ev, Path(a.plots))
    figures += write_backtest_plots(ev, Path(a.plots))
    write_parquet(ev.predictions, a.predictions)
    write_json({**ev.metrics, "blocks": periods}, a.metrics)
    write_json(headline(ev.metrics), a.headline)
    write_text(render_report(ev, figures, summary, notes), a.report)
    boot = ev.metrics[f"bootstrap_{ev.headline}"]
    log.info(
        "test %s %s (%s..%s), %d rows; verdict vs baselines %s%s%s -> %s",
        ev.headline,
        ev.intervals["model"].point,
        boot.get("model_lo"),
        boot.get("model_hi"),
        len(ev.predictions),
        ev.metrics["verdict"],
        "; no interval: " + ev.design.no_interval if ev.design.no_interval else "",
        "; the model learned nothing (see diagnostics)" if ev.diagnostics.degenerate else "",
        a.metrics,
    )
