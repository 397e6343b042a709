"""Train LightGBM on the time-ordered training block, early-stopped on the validation block, and
fit the baselines it must beat on the same training rows (an even sample of them when the block
is longer than `train.baseline_max_rows`; baselines.json records how many).

In walk-forward mode (split.mode) the same happens once per fold: each fold's model and baselines
see only that fold's training and validation rows, and score only its test rows (in evaluate).
The last fold's model, the one trained on the most recent data, is the deployed `model.txt`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from updown.config import SplitConfig, TrainConfig
from updown.contract import CLASSIFICATION, REGRESSION, Task, feature_columns, task_for
from updown.errors import UpdownError
from updown.learn.baselines import fit_baselines
from updown.learn.split import make_folds
from updown.learn.summary import FoldSummary, TrainingSummary
from updown.learn.tables import row_table
from updown.learn.uniqueness import uniqueness_weights
from updown.progress import Progress

log = logging.getLogger("updown")

MIN_ROWS = {"train": 100, "valid": 20}
# objective -> the loss it is early-stopped on (LightGBM's own metric for that objective)
OBJECTIVES = {
    CLASSIFICATION: {"binary": "binary_logloss", "cross_entropy": "cross_entropy"},
    REGRESSION: {"regression": "l2", "huber": "huber", "regression_l1": "l1", "fair": "fair"},
}
DEFAULT_OBJECTIVE = {CLASSIFICATION: "binary", REGRESSION: "regression"}
# TrainConfig fields that are LightGBM parameters under the same name
LGB_FIELDS = (
    "learning_rate",
    "num_leaves",
    "max_depth",
    "min_data_in_leaf",
    "feature_fraction",
    "bagging_fraction",
    "bagging_freq",
    "lambda_l1",
    "lambda_l2",
    "min_gain_to_split",
    "seed",
    "num_threads",
)
FIXED = {"deterministic": True, "force_row_wise": True, "verbosity": -1}


@dataclass
class FoldFit:
    """One fold's LightGBM model (text format), baselines and loss curve."""

    fold: int
    model_text: str
    best_iteration: int
    curve: pd.DataFrame
    baselines: dict[str, Any]
    rows: dict[str, int]


@dataclass
class TrainResult:
    task: Task
    objective: str
    metric: str
    folds: list[FoldFit]

    @property
    def final(self) -> FoldFit:
        """The fold trained on the most recent data: the model that is deployed."""
        return self.folds[-1]

    def summary(
        self, label_kind: str, horizon: int, split_mode: str, entry: str = "close"
    ) -> TrainingSummary:
        """models/baselines.json: what was trained, and every fold's baselines as numbers."""
        return TrainingSummary(
            task=self.task,
            objective=self.objective,
            metric=self.metric,
            best_iteration=self.final.best_iteration,
            label_kind=label_kind,
            horizon=horizon,
            split_mode=split_mode,
            entry=entry,
            folds=tuple(
                FoldSummary(f.fold, f.best_iteration, f.rows, f.baselines) for f in self.folds
            ),
        )

    def fold_curves(self) -> pd.DataFrame:
        return pd.concat([f.curve.assign(fold=f.fold) for f in self.folds], ignore_index=True).loc[
            :, ["fold", "iteration", "train_loss", "valid_loss"]
        ]


def fold_blocks(rows: pd.DataFrame, cfg: SplitConfig) -> list[pd.Series]:
    """The block ('train', 'valid', 'test' or '') of each row, once per fold, oldest test block
    first: one fold in holdout mode, `split.walk_forward.folds` in walk-forward mode."""
    folds = make_folds(rows, cfg)
    if not folds:
        raise UpdownError("split: no fold to train (check the split dates against the data)")
    return folds


def check_labels(table: pd.DataFrame, task: Task) -> None:
    if task == CLASSIFICATION:
        bad = set(np.unique(table["label"].to_numpy())) - {0, 1}
        if bad:
            raise UpdownError(
                f"labels: train handles up (1) / down (0) labels; found {sorted(bad)[:5]} "
                "(label.dead_zone: keep makes a third class, 2: use dead_zone: drop)"
            )
    elif not np.isfinite(table["label"].to_numpy(dtype=float)).all():
        raise UpdownError("labels: a return label must be a finite number on every row")


def check_enough_rows(table: pd.DataFrame, blocks: pd.Series, where: str, task: Task) -> None:
    counts = {str(k): int(v) for k, v in blocks.value_counts().items()}
    # Only a classifier needs its classes counted (a float label's distinct values cost a sort).
    classes = table.loc[blocks == "train", "label"].nunique() if task == CLASSIFICATION else 0
    check_block_counts(counts, classes, where, task)


def check_block_counts(counts: dict[str, int], classes: int, where: str, task: Task) -> None:
    """Enough rows in the train and valid blocks (`counts`), and two classes (`classes`: the
    number of distinct training labels) for a classifier."""
    for block, needed in MIN_ROWS.items():
        have = int(counts.get(block, 0))
        if have < needed:
            raise UpdownError(
                f"{where}only {have} labelled rows in the {block} block (need at least {needed}): "
                "check split.train_end / split.valid_end against the data's dates, "
                "data.start / data.end, and the validation report"
            )
    if task == CLASSIFICATION and classes < 2:
        raise UpdownError(
            f"{where}the training block holds a single class: nothing to learn "
            "(check label.threshold and the dates)"
        )


def objective_and_metric(cfg: TrainConfig, task: Task) -> tuple[str, str]:
    """The LightGBM objective (chosen by the label unless set) and the early-stopping metric."""
    objective = DEFAULT_OBJECTIVE[task] if cfg.objective == "auto" else cfg.objective
    if objective not in OBJECTIVES[task]:
        raise UpdownError(
            f"train.objective: {objective!r} does not fit a {task} label; "
            f"use auto or one of {', '.join(OBJECTIVES[task])}"
        )
    metric = OBJECTIVES[task][objective] if cfg.metric == "auto" else cfg.metric
    return objective, metric


def lightgbm_params(cfg: TrainConfig, objective: str, metric: str) -> dict[str, Any]:
    """LightGBM parameters; deterministic with fixed seeds and threads. `train.extra` passes any
    other LightGBM parameter, but may not silently override one that has its own key."""
    clash = sorted(set(cfg.extra) & {*LGB_FIELDS, "objective", "metric", *FIXED})
    if clash:
        raise UpdownError(
            f"train.extra: {', '.join(clash)} has its own key (train.{clash[0]}); set it there"
        )
    params: dict[str, Any] = {"objective": objective, "metric": metric}
    params.update({name: getattr(cfg, name) for name in LGB_FIELDS})
    params.update(FIXED)
    params.update(cfg.extra)
    return params


def baseline_rows(train_rows: np.ndarray, cap: int) -> np.ndarray:
    """The training rows the baselines are fitted on (`train.baseline_max_rows`): all of them up
    to `cap`, else `cap` rows evenly spaced through the block, which is sorted by (ticker,
    timestamp), so every ticker and every period keeps its share. A linear model of ~100 weights
    is settled long before that, and the fit's time and float64 copies stay bounded."""
    if len(train_rows) <= cap:
        return train_rows
    return train_rows[np.linspace(0, len(train_rows) - 1, cap).round().astype(np.int64)]


def sample_weights(
    table: pd.DataFrame, rows: np.ndarray, cfg: TrainConfig, horizon: int, entry_offset: int = 0
) -> np.ndarray | None:
    """`train.sample_weight` of each of `rows` (one fold's training rows), or None: no
    weights, and at horizon 1, where labels do not overlap, uniqueness is 1 everywhere.
    `entry_offset`: bars from a label's bar to its entry (updown.returns.entry_offset)."""
    if cfg.sample_weight == "none" or horizon <= 1:
        return None
    return uniqueness_weights(
        table["ticker"].to_numpy()[rows],
        table["timestamp"].to_numpy()[rows],
        table["label_end"].to_numpy()[rows],
        entry_offset,
    )


def loss_curve(history: dict[str, dict[str, list[float]]], key: str) -> pd.DataFrame:
    """Train and validation loss per boosting round, as LightGBM recorded them."""
    return pd.DataFrame(
        {
            "iteration": np.arange(1, len(history["valid"][key]) + 1),
            "train_loss": np.round(history["train"][key], 8),
            "valid_loss": np.round(history["valid"][key], 8),
        }
    )


def fit_fold(
    table: pd.DataFrame,
    blocks: pd.Series,
    names: list[str],
    cfg: TrainConfig,
    task: Task,
    objective: str,
    metric: str,
    fold: int,
    walk_forward: bool,
    horizon: int = 1,
    entry_offset: int = 0,
) -> FoldFit:
    import lightgbm as lgb

    check_enough_rows(table, blocks, f"fold {fold}: " if walk_forward else "", task)
    train_rows = np.flatnonzero((blocks == "train").to_numpy())
    valid_rows = np.flatnonzero((blocks == "valid").to_numpy())
    # LightGBM bins the blocks straight from the table's columns (row_table): copies of the rows
    # (a pandas slice, then LightGBM's own matrix) would hold the training block twice more, which
    # a large panel cannot afford. Same bins, same trees as from the sliced frames.
    params = lightgbm_params(cfg, objective, metric)
    # Fitted before LightGBM holds its bins, so the two never take memory at the same time.
    fitted_rows = baseline_rows(train_rows, cfg.baseline_max_rows)
    weight = sample_weights(table, train_rows, cfg, horizon, entry_offset)
    fitted_weight = None if weight is None else weight[np.searchsorted(train_rows, fitted_rows)]
    baselines = fit_baselines(
        table.iloc[fitted_rows], names, task, cfg.linear_c, fitted_weight, cfg.num_threads
    )
    y = table["label"].to_numpy()
    dtrain = lgb.Dataset(
        row_table(table, train_rows, names),
        y[train_rows],
        weight=weight,
        feature_name=names,
        free_raw_data=True,
    )
    dtrain.pandas_categorical = []  # no categorical features, as LightGBM records for a frame
    dvalid = lgb.Dataset(
        row_table(table, valid_rows, names),
        y[valid_rows],
        feature_name=names,
        reference=dtrain,
    )
    history: dict[str, dict[str, list[float]]] = {}
    desc = f"boosting fold {fold}" if walk_forward else "boosting"
    # A bar on a terminal; in the log one line as boosting starts and one as it ends.
    with Progress(desc, total=cfg.num_boost_round, unit="round") as progress:
        callbacks: list[Any] = [lgb.record_evaluation(history), lambda env: progress.update()]
        if cfg.early_stopping_rounds:
            callbacks.append(
                lgb.early_stopping(cfg.early_stopping_rounds, first_metric_only=True, verbose=False)
            )
        booster = lgb.train(
            params,
            dtrain,
            num_boost_round=cfg.num_boost_round,
            valid_sets=[dtrain, dvalid],
            valid_names=["train", "valid"],
            callbacks=callbacks,
        )
        best = booster.best_iteration or booster.current_iteration()
        key = next(iter(history["valid"]))  # the metric as LightGBM names it (aliases resolved)
        progress.summary = f"best round {best}, valid {key} {history['valid'][key][best - 1]:.6g}"
    return FoldFit(
        fold=fold,
        model_text=booster.model_to_string(num_iteration=best),
        best_iteration=int(best),
        curve=loss_curve(history, key),
        baselines=baselines,
        rows={"train": len(train_rows), "valid": len(valid_rows), "baselines": len(fitted_rows)},
    )


def train_model(
    table: pd.DataFrame,
    split: SplitConfig,
    cfg: TrainConfig,
    label_kind: str,
    horizon: int = 1,
    entry_offset: int = 0,
) -> TrainResult:
    """Fit LightGBM and the baselines on `table` (from training_table), once per fold;
    `horizon`: the label's, in bars (sample weights by uniqueness need it above 1), from
    `entry_offset` bars after the label's bar."""
    task = task_for(label_kind)
    check_labels(table, task)
    objective, metric = objective_and_metric(cfg, task)
    names = feature_columns(list(table.columns))
    if "ret_1" not in names:
        raise UpdownError("features: ret_1 is missing, and the momentum/reversal baselines use it")
    all_blocks = fold_blocks(table, split)
    walk_forward = len(all_blocks) > 1
    if cfg.sample_weight == "uniqueness" and horizon <= 1:
        log.info(
            "train.sample_weight: uniqueness has no effect at label.horizon 1 (one-bar labels "
            "do not overlap): training without weights"
        )
    folds = [
        fit_fold(
            table,
            blocks,
            names,
            cfg,
            task,
            objective,
            metric,
            i + 1,
            walk_forward,
            horizon,
            entry_offset,
        )
        for i, blocks in enumerate(all_blocks)
    ]
    return TrainResult(task=task, objective=objective, metric=metric, folds=folds)
