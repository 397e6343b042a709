"""Score the model and its baselines on the test block: the same rows for every contender."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from updown.config import EvaluateConfig
from updown.errors import UpdownError

EPS = 1e-15


def predict_baselines(test: pd.DataFrame, baselines: dict[str, Any]) -> dict[str, np.ndarray]:
    """P(up) of each baseline for each row of `test` (which carries the feature columns)."""
    last = test["ret_1"].to_numpy()
    lin = baselines["logistic"]
    x = test[lin["features"]].fillna(pd.Series(lin["fill"], index=lin["features"]))
    z = ((x - np.array(lin["mean"])) / np.array(lin["scale"])).to_numpy() @ np.array(lin["coef"])
    return {
        "majority": np.full(len(test), baselines["majority"]["p_up"]),
        "momentum": np.where(np.nan_to_num(last) > 0, 1.0, 0.0),
        "reversal": np.where(np.nan_to_num(last) < 0, 1.0, 0.0),
        "logistic": 1.0 / (1.0 + np.exp(-(z + lin["intercept"]))),
    }


def classification_metrics(y: np.ndarray, p: np.ndarray, threshold: float) -> dict[str, float]:
    """Accuracy, balanced accuracy, ROC AUC, log loss and Brier score of P(up) `p` for labels `y`."""
    from sklearn.metrics import balanced_accuracy_score, roc_auc_score

    pred = (p > threshold).astype(int)
    pc = np.clip(p, EPS, 1 - EPS)
    auc = float(roc_auc_score(y, p)) if len(np.unique(y)) == 2 else float("nan")
    return {
        "accuracy": float(np.mean(pred == y)),
        "balanced_accuracy": float(balanced_accuracy_score(y, pred)),
        "roc_auc": auc,
        "log_loss": float(-np.mean(y * np.log(pc) + (1 - y) * np.log(1 - pc))),
        "brier": float(np.mean((p - y) ** 2)),
    }


def confusion(y: np.ndarray, p: np.ndarray, threshold: float) -> dict[str, int]:
    pred = p > threshold
    return {
        "tn": int(np.sum(~pred & (y == 0))),
        "fp": int(np.sum(pred & (y == 0))),
        "fn": int(np.sum(~pred & (y == 1))),
        "tp": int(np.sum(pred & (y == 1))),
    }


def test_predictions(
    table: pd.DataFrame, model_text: str, baselines: dict[str, Any]
) -> pd.DataFrame:
    """One row per test-block row: keys, label, forward return, and P(up) of every contender."""
    import lightgbm as lgb

    test = table[table["block"] == "test"]
    if len(test) < 20 or test["label"].nunique() < 2:
        raise UpdownError(
            f"the test block has {len(test)} labelled rows and "
            f"{test['label'].nunique()} class(es): too few to evaluate "
            "(check split.valid_end and data.end)"
        )
    booster = lgb.Booster(model_str=model_text)
    out = test[["ticker", "timestamp", "label", "forward_return", "label_end"]].reset_index(
        drop=True
    )
    out["p_model"] = booster.predict(test[booster.feature_name()])
    for name, p in predict_baselines(test, baselines).items():
        out[f"p_{name}"] = p
    return out


def contenders(predictions: pd.DataFrame) -> list[str]:
    return [c.removeprefix("p_") for c in predictions.columns if c.startswith("p_")]


def round_floats(obj: Any, digits: int = 6) -> Any:
    """Round floats so metrics.json reads well in `dvc metrics diff`; NaN becomes None."""
    if isinstance(obj, dict):
        return {k: round_floats(v, digits) for k, v in obj.items()}
    if isinstance(obj, float):
        return None if not np.isfinite(obj) else round(obj, digits)
    return obj


def evaluate(predictions: pd.DataFrame, cfg: EvaluateConfig, best_iteration: int) -> dict[str, Any]:
    """metrics.json: the model's and each baseline's test metrics, plus what was tested."""
    y = predictions["label"].to_numpy()
    metrics: dict[str, Any] = {
        "test": {
            "rows": len(predictions),
            "tickers": int(predictions["ticker"].nunique()),
            "up_rate": float(y.mean()),
            "best_iteration": best_iteration,
        },
    }
    for name in contenders(predictions):
        p = predictions[f"p_{name}"].to_numpy()
        key = "model" if name == "model" else f"baseline_{name}"
        metrics[key] = classification_metrics(y, p, cfg.threshold)
    metrics["model"]["confusion"] = confusion(y, predictions["p_model"].to_numpy(), cfg.threshold)
    return round_floats(metrics)
