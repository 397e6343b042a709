"""Plot data (CSV for `dvc plots`) and PNG figures for the report."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from updown.evaluate import contenders
from updown.io import write_csv, write_with


def roc_table(predictions: pd.DataFrame) -> pd.DataFrame:
    """False and true positive rates of every contender, long format (for `dvc plots`)."""
    from sklearn.metrics import roc_curve

    parts = []
    for name in contenders(predictions):
        fpr, tpr, _ = roc_curve(predictions["label"], predictions[f"p_{name}"])
        keep = np.unique(np.linspace(0, len(fpr) - 1, min(len(fpr), 200)).astype(int))
        parts.append(
            pd.DataFrame({"model": name, "fpr": fpr[keep].round(5), "tpr": tpr[keep].round(5)})
        )
    return pd.concat(parts, ignore_index=True)


def importance_table(model_text: str) -> pd.DataFrame:
    import lightgbm as lgb

    booster = lgb.Booster(model_str=model_text)
    gain = booster.feature_importance(importance_type="gain")
    table = pd.DataFrame({"feature": booster.feature_name(), "gain": gain.round(4)})
    return table.sort_values(["gain", "feature"], ascending=[False, True], ignore_index=True)


def _save_png(fig, path: Path) -> None:  # type: ignore[no-untyped-def]
    import matplotlib.pyplot as plt

    write_with(path, lambda tmp: fig.savefig(tmp, format="png", dpi=90, bbox_inches="tight"))
    plt.close(fig)


def write_plots(
    predictions: pd.DataFrame, curve: pd.DataFrame, model_text: str, out_dir: Path
) -> dict[str, Path]:
    """Write plot data and PNGs under `out_dir`; return the PNG paths by plot name."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out_dir.mkdir(parents=True, exist_ok=True)
    roc, imp = roc_table(predictions), importance_table(model_text)
    write_csv(roc, out_dir / "roc.csv")
    write_csv(imp, out_dir / "importance.csv")
    pngs = {}

    fig, ax = plt.subplots(figsize=(5, 5))
    for name, part in roc.groupby("model", sort=False):
        ax.plot(part["fpr"], part["tpr"], label=name, lw=2 if name == "model" else 1)
    ax.plot([0, 1], [0, 1], "k:", lw=0.8)
    ax.set(xlabel="false positive rate", ylabel="true positive rate", title="ROC, test block")
    ax.legend(fontsize=8)
    pngs["roc"] = out_dir / "roc.png"
    _save_png(fig, pngs["roc"])

    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot(curve["iteration"], curve["train_loss"], label="train")
    ax.plot(curve["iteration"], curve["valid_loss"], label="validation")
    ax.set(xlabel="boosting round", ylabel="log loss", title="Loss curve")
    ax.legend()
    pngs["loss_curve"] = out_dir / "loss_curve.png"
    _save_png(fig, pngs["loss_curve"])

    top = imp.head(20).iloc[::-1]
    fig, ax = plt.subplots(figsize=(6, 5))
    ax.barh(top["feature"], top["gain"])
    ax.set(xlabel="total gain", title="Feature importance (top 20)")
    pngs["importance"] = out_dir / "importance.png"
    _save_png(fig, pngs["importance"])
    return pngs
