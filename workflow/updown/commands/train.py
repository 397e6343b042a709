"""`updown train`: LightGBM and the baselines, once per fold."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from updown.config import load_params
from updown.contract import KEYS, task_for
from updown.io import read_parquet, write_csv, write_json, write_text
from updown.learn.guards import check_split_dates
from updown.learn.tables import read_training_table
from updown.learn.train import train_model
from updown.learn.train_dask import train_on_dask
from updown.returns import entry_offset

log = logging.getLogger("updown")


def run(a: argparse.Namespace) -> None:
    params = load_params(a.params)
    dask = params.train.engine == "dask"
    # On a Dask cluster each worker reads its own rows: this process needs only the keys.
    labels = read_parquet(a.labels, columns=list(KEYS) if dask else None)
    check_split_dates(labels["timestamp"], params.split)
    kind = labels.attrs.get("label_kind", params.label.kind)
    task_for(kind)  # an unknown label kind stops here, naming it
    horizon = int(labels.attrs.get("horizon", params.label.horizon))
    entry = str(labels.attrs.get("entry", "close"))
    if dask:
        result = train_on_dask(
            a.features,
            a.labels,
            labels,
            params.split,
            params.train,
            kind,
            horizon,
            entry_offset(entry),
        )
    else:
        # Column by column (bounded memory), on train's threads.
        table = read_training_table(a.features, labels, threads=params.train.num_threads)
        result = train_model(table, params.split, params.train, kind, horizon, entry_offset(entry))
    folds = Path(a.folds)
    folds.mkdir(parents=True, exist_ok=True)
    for stale in folds.glob("fold_*.txt"):  # a previous run may have had more folds
        stale.unlink()
    for f in result.folds:
        write_text(f.model_text, folds / f"fold_{f.fold:02d}.txt")
    write_csv(result.fold_curves(), folds / "curves.csv")
    write_text(result.final.model_text, a.model)
    write_json(result.summary(kind, horizon, params.split.mode, entry).to_json(), a.baselines)
    write_csv(result.final.curve, a.curve)
    log.info(
        "trained %s (%s) on %d fold(s): best iteration %d -> %s",
        result.objective,
        kind,
        len(result.folds),
        result.final.best_iteration,
        a.model,
    )
