"""`train.engine: dask`: LightGBM trained data-parallel on a Dask cluster, each worker holding
only its shard of tickers (updown.learn.worker_shard); the same model text, loss curve and baselines
as `train_model` writes, so evaluate, track and predict do not change.

Per fold: every worker reads its shard's training and validation rows (never the test block, and
no row passes through this process); this process checks the counts the shards report (the
same checks and messages as the local engine), fits the baselines on the same evenly spaced
training rows the local engine picks (each worker sends its share of them), and then each worker
trains with `lgb.train` and LightGBM's own network (`tree_learner: data`; what
`lightgbm.dask.DaskLGBMClassifier` runs inside, called directly so that a worker bins its rows
in batches from its table instead of from a concatenated copy).

Every round each worker's loss is summed with the others' (updown.learn.dask_cluster's
`MeanAcrossWorkers`), so early stopping stops every worker at the same round; that is exact for
losses that are means over rows (the objectives' own metrics), and others (auc, ...) are refused.
"""

from __future__ import annotations

import contextlib
import logging
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import numpy as np
import pandas as pd

from updown.config import SplitConfig, TrainConfig
from updown.contract import KEYS, LABEL_COLUMNS, Task, feature_columns, task_for
from updown.errors import UpdownError
from updown.learn.baselines import fit_baselines
from updown.learn.dask_cluster import MeanAcrossWorkers, dask_client, free_port, peak_rss_mb
from updown.learn.split import Fold, fold_bounds
from updown.learn.tables import row_table
from updown.learn.train import (
    FoldFit,
    TrainResult,
    baseline_rows,
    check_block_counts,
    lightgbm_params,
    loss_curve,
    objective_and_metric,
)
from updown.learn.uniqueness import average_uniqueness
from updown.learn.worker_shard import Shard, read_shard, ticker_shards
from updown.progress import Progress

log = logging.getLogger("updown")

# Metrics that are a (weighted) mean over rows, by the names LightGBM and params use for them:
# the mean of the workers' figures, weighted by their rows, is the panel's.
MEAN_METRICS = {
    "binary_logloss": "binary_logloss",
    "binary": "binary_logloss",
    "binary_error": "binary_error",
    "cross_entropy": "cross_entropy",
    "xentropy": "cross_entropy",
    "l2": "l2",
    "mse": "l2",
    "mean_squared_error": "l2",
    "regression": "l2",
    "l1": "l1",
    "mae": "l1",
    "mean_absolute_error": "l1",
    "regression_l1": "l1",
    "huber": "huber",
    "fair": "fair",
    "quantile": "quantile",
    "mape": "mape",
}


# -- what runs on each worker -----------------------------------------------------------------


def prepare_shard(
    features: str,
    labels: str,
    tickers: tuple[str, ...],
    fold: Fold,
    embargo_bars: int,
    names: list[str],
    task: Task,
    uniqueness_offset: int | None,
) -> Shard:
    """The shard's rows of the fold, kept in the worker's memory for the tasks below;
    `uniqueness_offset`: the label's entry offset when rows are weighted by uniqueness."""
    shard = read_shard(features, labels, tickers, fold, embargo_bars, names, task)
    if uniqueness_offset is not None:
        rows = shard.table.iloc[shard.train]
        shard.uniqueness = average_uniqueness(
            rows["ticker"].to_numpy(),
            rows["timestamp"].to_numpy(),
            rows["label_end"].to_numpy(),
            uniqueness_offset,
        )
    return shard


def shard_summary(shard: Shard) -> dict[str, Any]:
    u = shard.uniqueness
    return {
        "train": len(shard.train),
        "valid": len(shard.valid),
        "classes": shard.classes,
        "uniqueness_sum": float(u.sum()) if u is not None else 0.0,
    }


def shard_rows(shard: Shard, positions: np.ndarray, mean: float | None) -> tuple[Any, Any]:
    """Training rows at `positions` (of the shard's training block) and their weights."""
    rows = shard.train[positions]
    weight = None if mean is None or shard.uniqueness is None else shard.uniqueness / mean
    return shard.table.iloc[rows], None if weight is None else weight[positions]


def train_shard(
    shard: Shard,
    params: dict[str, Any],
    names: list[str],
    rank: int,
    machines: dict[str, Any],
    rounds: int,
    stopping_rounds: int,
    mean: float | None,
    key: str,
) -> dict[str, Any]:
    """This worker's part of data-parallel training; the model text from rank 0."""
    import lightgbm as lgb
    from distributed import get_worker

    params = {**params, **machines, "num_threads": get_worker().state.nthreads}
    y = shard.table["label"].to_numpy()
    weight = None if mean is None or shard.uniqueness is None else shard.uniqueness / mean
    dtrain = lgb.Dataset(
        row_table(shard.table, shard.train, names),
        y[shard.train],
        weight=weight,
        feature_name=names,
        free_raw_data=True,
    )
    dtrain.pandas_categorical = []  # as the local engine records
    dvalid = lgb.Dataset(
        row_table(shard.table, shard.valid, names),
        y[shard.valid],
        feature_name=names,
        reference=dtrain,
    )
    history: dict[str, dict[str, list[float]]] = {}
    callbacks: list[Any] = [lgb.record_evaluation(history)]
    size = int(machines.get("num_machines", 1))
    if size > 1:
        weights = {
            "train": float(weight.sum()) if weight is not None else float(len(shard.train)),
            "valid": float(len(shard.valid)),
        }
        timeout = 60.0 * float(machines["time_out"])
        callbacks.append(MeanAcrossWorkers(key, rank, size, weights, timeout))
    if stopping_rounds:
        callbacks.append(lgb.early_stopping(stopping_rounds, first_metric_only=True, verbose=False))
    booster = lgb.train(
        params,
        dtrain,
        num_boost_round=rounds,
        valid_sets=[dtrain, dvalid],
        valid_names=["train", "valid"],
        callbacks=callbacks,
    )
    best = booster.best_iteration or booster.current_iteration()
    text = booster.model_to_string(num_iteration=best) if rank == 0 else None
    return {"history": history, "best": int(best), "model": text, "peak_rss_mb": peak_rss_mb()}


# -- this process -----------------------------------------------------------------------------


def without_network(model_text: str) -> str:
    """The model text without the run's network settings (worker addresses and ports change
    from run to run and mean nothing to a model that is loaded to predict)."""
    drop = ("[machines: ", "[local_listen_port: ", "[num_machines: ", "[time_out: ")
    return "".join(
        line for line in model_text.splitlines(keepends=True) if not line.startswith(drop)
    )


class DaskTrainer:
    """One training run's fixed inputs on a connected client: its workers and their shards."""

    def __init__(
        self,
        client: Any,
        paths: tuple[str, str],
        tickers: pd.Series,
        cfg: TrainConfig,
        task: Task,
        names: list[str],
        params: dict[str, Any],
    ) -> None:
        self.client, self.paths, self.cfg, self.task = client, paths, cfg, task
        self.names, self.params = names, params
        workers = sorted(client.scheduler_info()["workers"])
        if not workers:
            raise UpdownError(f"train.dask.scheduler: {cfg.dask.scheduler} has no workers")
        self.shards = ticker_shards(tickers.value_counts(), len(workers))
        self.workers = workers[: len(self.shards)]
        log.info(
            "dask: %d workers, shards of %s tickers",
            len(self.workers),
            ", ".join(str(len(s)) for s in self.shards),
        )

    def submit(self, fn: Any, worker: str, *args: Any) -> Any:
        return self.client.submit(
            fn, *args, workers=[worker], allow_other_workers=False, pure=False
        )

    def fit(
        self, fold: Fold, number: int, walk_forward: bool, embargo: int, offset: int | None
    ) -> tuple[FoldFit, list[float]]:
        """One fold: the model, curve and baselines, and each worker's peak RSS (MB)."""
        where = f"fold {number}: " if walk_forward else ""
        features, labels = self.paths
        shards = [
            self.submit(
                prepare_shard, w, features, labels, t, fold, embargo, self.names, self.task, offset
            )
            for w, t in zip(self.workers, self.shards, strict=True)
        ]
        try:
            summaries = self.client.gather(
                [
                    self.submit(shard_summary, w, s)
                    for w, s in zip(self.workers, shards, strict=True)
                ]
            )
            counts = {b: sum(s[b] for s in summaries) for b in ("train", "valid")}
            classes = len(set().union(*(s["classes"] for s in summaries)))
            check_block_counts(counts, classes, where, self.task)
            self._check_shards(summaries, where)
            mean = None
            if offset is not None:
                mean = sum(s["uniqueness_sum"] for s in summaries) / counts["train"]
            baselines, fitted = self._baselines(shards, summaries, counts["train"], mean)
            out = self._boost(shards, mean, number, walk_forward)
        finally:
            self.client.cancel(shards)
        fit = FoldFit(
            fold=number,
            model_text=out[0]["model"],
            best_iteration=out[0]["best"],
            curve=loss_curve(out[0]["history"], next(iter(out[0]["history"]["valid"]))),
            baselines=baselines,
            rows={"train": counts["train"], "valid": counts["valid"], "baselines": fitted},
        )
        return fit, [r["peak_rss_mb"] for r in out]

    def _check_shards(self, summaries: list[dict[str, Any]], where: str) -> None:
        for tickers, s in zip(self.shards, summaries, strict=True):
            for block in ("train", "valid"):
                if not s[block]:
                    raise UpdownError(
                        f"train.dask: {where}the shard of tickers {tickers[0]}..{tickers[-1]} "
                        f"has no {block} rows, and every LightGBM worker needs some: use fewer "
                        "workers (train.dask.scheduler) or train.engine: local"
                    )

    def _baselines(
        self, shards: list[Any], summaries: list[dict[str, Any]], total: int, mean: float | None
    ) -> tuple[dict[str, Any], int]:
        """The baselines on the rows the local engine picks: evenly spaced through the training
        block (the shards' blocks one after another), each shard sending its own."""
        picked = baseline_rows(np.arange(total), self.cfg.baseline_max_rows)
        start, parts = 0, []
        for worker, shard, s in zip(self.workers, shards, summaries, strict=True):
            mine = picked[(picked >= start) & (picked < start + s["train"])] - start
            parts.append(self.submit(shard_rows, worker, shard, mine, mean))
            start += s["train"]
        gathered = self.client.gather(parts)
        rows = pd.concat([p[0] for p in gathered], ignore_index=True)
        weight = None if mean is None else np.concatenate([p[1] for p in gathered])
        return fit_baselines(rows, self.names, self.task, self.cfg.linear_c, weight), len(rows)

    def _boost(
        self, shards: list[Any], mean: float | None, number: int, walk_forward: bool
    ) -> list[dict[str, Any]]:
        ports = self.client.run(free_port, workers=self.workers)
        hosts = [f"{urlparse(w).hostname}:{ports[w]}" for w in self.workers]
        key = f"updown-train-{uuid.uuid4().hex}"
        desc = f"boosting fold {number}" if walk_forward else "boosting"
        with Progress(desc, total=self.cfg.num_boost_round, unit="round") as progress:
            futures = [
                self.submit(
                    train_shard,
                    w,
                    shard,
                    self.params,
                    self.names,
                    rank,
                    self._network(hosts, ports[w]),
                    self.cfg.num_boost_round,
                    self.cfg.early_stopping_rounds,
                    mean,
                    key,
                )
                for rank, (w, shard) in enumerate(zip(self.workers, shards, strict=True))
            ]
            out = self.client.gather(futures)
            history = out[0]["history"]
            metric = next(iter(history["valid"]))
            progress.update(len(history["valid"][metric]))
            best = out[0]["best"]
            progress.summary = (
                f"best round {best}, valid {metric} {history['valid'][metric][best - 1]:.6g}; "
                f"{len(out)} dask workers"
            )
        self._forget(key, len(history["valid"][metric]))
        out[0]["model"] = without_network(out[0]["model"])
        return out

    def _network(self, hosts: list[str], port: int) -> dict[str, Any]:
        if len(hosts) == 1:
            return {}
        return {
            "machines": ",".join(hosts),
            "local_listen_port": port,
            "num_machines": len(hosts),
            "time_out": self.cfg.dask.timeout_minutes,
            "pre_partition": True,
            "tree_learner": self.cfg.extra.get("tree_learner", "data"),
        }

    def _forget(self, key: str, rounds: int) -> None:
        """The exchange's last round, which no worker deletes (each deletes the one before)."""
        from distributed import Variable

        for rank in range(len(self.workers)):
            with contextlib.suppress(Exception):
                Variable(f"{key}-{rounds - 1}-{rank}", client=self.client).delete()


def check_mean_metric(metric: str) -> None:
    if metric not in MEAN_METRICS:
        raise UpdownError(
            f"train.metric: {metric!r} is not a mean over rows, and with train.engine: dask each "
            "worker scores its own rows, which add up to the panel's figure only for a mean: use "
            f"auto or one of {', '.join(sorted(set(MEAN_METRICS.values())))}, or train.engine: local"
        )


def parquet_columns(path: Path | str) -> list[str]:
    import pyarrow.parquet as pq

    try:
        return list(pq.read_schema(path).names)
    except (OSError, ValueError) as exc:
        raise UpdownError(f"{path}: cannot read as Parquet: {exc}") from exc


def train_on_dask(
    features: Path | str,
    labels: Path | str,
    keys: pd.DataFrame,
    split: SplitConfig,
    cfg: TrainConfig,
    label_kind: str,
    horizon: int = 1,
    entry_offset: int = 0,
) -> TrainResult:
    """`train_model` on a Dask cluster (train.dask). `keys`: the labels' ticker and timestamp
    columns, all this process reads of the panel (for the shards and the fold dates)."""
    task = task_for(label_kind)
    objective, metric = objective_and_metric(cfg, task)
    check_mean_metric(metric)
    names = feature_columns(
        [*LABEL_COLUMNS, *(c for c in parquet_columns(features) if c not in KEYS)]
    )
    if "ret_1" not in names:
        raise UpdownError("features: ret_1 is missing, and the momentum/reversal baselines use it")
    folds = fold_bounds(keys["timestamp"], split)
    offset = entry_offset if cfg.sample_weight == "uniqueness" and horizon > 1 else None
    params = lightgbm_params(cfg, objective, metric)
    paths = (str(Path(features).resolve()), str(Path(labels).resolve()))
    with dask_client(cfg.dask) as client:
        trainer = DaskTrainer(client, paths, keys["ticker"], cfg, task, names, params)
        fits = []
        for i, fold in enumerate(folds, start=1):
            fit, peaks = trainer.fit(fold, i, len(folds) > 1, split.embargo_bars, offset)
            log.info(
                "dask workers' peak RSS: %s MB (this process: %.0f MB)",
                ", ".join(f"{p:.0f}" for p in peaks),
                peak_rss_mb(),
            )
            fits.append(fit)
    return TrainResult(task=task, objective=objective, metric=metric, folds=fits)
