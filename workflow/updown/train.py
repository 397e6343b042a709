"""Train LightGBM on the time-ordered training block, early-stopped on the validation block,
and fit the baselines it must beat on exactly the same rows."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from updown.config import SplitConfig, TrainConfig
from updown.errors import UpdownError
from updown.features import feature_names
from updown.split import assign_blocks

MIN_ROWS = {"train": 100, "valid": 20}
OBJECTIVES = {"direction": ("binary", "binary_logloss")}


@dataclass
class TrainResult:
    model_text: str
    baselines: dict[str, Any]
    curve: pd.DataFrame
    best_iteration: int


def training_table(
    features: pd.DataFrame, labels: pd.DataFrame, split: SplitConfig
) -> pd.DataFrame:
    """Features joined to labels on (ticker, timestamp), with the block of each row."""
    table = labels.merge(features, on=["ticker", "timestamp"], how="inner", validate="one_to_one")
    table = table.sort_values(["ticker", "timestamp"], ignore_index=True)
    table["block"] = assign_blocks(table, split)
    return table


def check_enough_rows(table: pd.DataFrame) -> None:
    counts = table["block"].value_counts()
    for block, needed in MIN_ROWS.items():
        have = int(counts.get(block, 0))
        if have < needed:
            raise UpdownError(
                f"only {have} labelled rows in the {block} block (need at least {needed}): "
                "check split.train_end / split.valid_end against the data's dates, "
                "data.start / data.end, and the validation report"
            )
    labels = table.loc[table["block"] == "train", "label"]
    if labels.nunique() < 2:
        raise UpdownError(
            "the training block holds a single class: nothing to learn "
            "(check label.threshold and the dates)"
        )


def lightgbm_params(cfg: TrainConfig, objective: str, metric: str) -> dict[str, Any]:
    """LightGBM parameters; deterministic with fixed seeds and threads."""
    params: dict[str, Any] = {
        "objective": objective,
        "metric": metric,
        "learning_rate": cfg.learning_rate,
        "num_leaves": cfg.num_leaves,
        "min_data_in_leaf": cfg.min_data_in_leaf,
        "feature_fraction": cfg.feature_fraction,
        "bagging_fraction": cfg.bagging_fraction,
        "bagging_freq": cfg.bagging_freq,
        "lambda_l2": cfg.lambda_l2,
        "seed": cfg.seed,
        "num_threads": cfg.num_threads,
        "deterministic": True,
        "force_row_wise": True,
        "verbosity": -1,
    }
    params.update(cfg.extra)
    return params


def fit_logistic(x: pd.DataFrame, y: pd.Series, c: float) -> dict[str, Any]:
    """Standardised L2 logistic regression; stored as plain numbers (no pickle)."""
    from sklearn.linear_model import LogisticRegression

    fill = x.median().fillna(0.0)
    xf = x.fillna(fill)
    mean, scale = xf.mean(), xf.std(ddof=0).replace(0.0, 1.0)
    model = LogisticRegression(C=c, max_iter=1000)
    model.fit(((xf - mean) / scale).to_numpy(), y.to_numpy())
    return {
        "features": list(x.columns),
        "fill": fill.tolist(),
        "mean": mean.tolist(),
        "scale": scale.tolist(),
        "coef": model.coef_[0].tolist(),
        "intercept": float(model.intercept_[0]),
        "C": c,
    }


def fit_baselines(train: pd.DataFrame, features: list[str], cfg: TrainConfig) -> dict[str, Any]:
    return {
        "majority": {"p_up": float(train["label"].mean())},
        "momentum": {"feature": "ret_1", "rule": "up if the last bar's return > 0"},
        "reversal": {"feature": "ret_1", "rule": "up if the last bar's return < 0"},
        "logistic": fit_logistic(train[features], train["label"], cfg.linear_c),
    }


def train_model(table: pd.DataFrame, cfg: TrainConfig, label_kind: str) -> TrainResult:
    """Fit LightGBM and the baselines on `table` (from training_table)."""
    import lightgbm as lgb
    from tqdm import tqdm

    check_enough_rows(table)
    objective, metric = OBJECTIVES[label_kind]
    names = feature_names(table.drop(columns=["label", "forward_return", "label_end", "block"]))
    train, valid = table[table["block"] == "train"], table[table["block"] == "valid"]
    dtrain = lgb.Dataset(train[names], train["label"], free_raw_data=True)
    dvalid = lgb.Dataset(valid[names], valid["label"], reference=dtrain)
    history: dict[str, dict[str, list[float]]] = {}
    bar = tqdm(total=cfg.num_boost_round, desc="boosting", unit="round", leave=False)
    callbacks = [lgb.record_evaluation(history), lambda env: bar.update(1)]
    if cfg.early_stopping_rounds:
        callbacks.append(lgb.early_stopping(cfg.early_stopping_rounds, verbose=False))
    booster = lgb.train(
        lightgbm_params(cfg, objective, metric),
        dtrain,
        num_boost_round=cfg.num_boost_round,
        valid_sets=[dtrain, dvalid],
        valid_names=["train", "valid"],
        callbacks=callbacks,
    )
    bar.close()
    best = booster.best_iteration or booster.current_iteration()
    curve = pd.DataFrame(
        {
            "iteration": np.arange(1, len(history["train"][metric]) + 1),
            "train_loss": history["train"][metric],
            "valid_loss": history["valid"][metric],
        }
    )
    return TrainResult(
        model_text=booster.model_to_string(num_iteration=best),
        baselines={
            **fit_baselines(train, names, cfg),
            "rows": {"train": len(train), "valid": len(valid)},
        },
        curve=curve,
        best_iteration=int(best),
    )
