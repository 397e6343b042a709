"""The MLflow model the track stage logs: raw OHLCV bars in, "up or down, and how sure" out.

`RawBarsModel` computes the features itself with updown.learn.features.make_features (through
updown.serve.scoring.score_bars, the path the predict stage and the CLI take), then scores them
with the LightGBM booster stored beside it as a text file. `mlflow models serve` and
`mlflow.pyfunc.load_model` therefore answer from prices, with no second feature code to drift.
"""

from __future__ import annotations

import json
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import mlflow.pyfunc
import pandas as pd
from mlflow.exceptions import MlflowException
from mlflow.models import ModelSignature, infer_signature
from mlflow.protos.databricks_pb2 import INVALID_PARAMETER_VALUE
from mlflow.pyfunc import PythonModel
from mlflow.types.schema import AnyType, ColSpec, Schema

from updown import config
from updown.config import build_params
from updown.contract import PRICE_COLUMNS
from updown.errors import UpdownError
from updown.safe_yaml import read_yaml
from updown.serve.scoring import ModelProfile, load_booster, score_bars

# What the served model imports (updown itself travels as code); pinned to the versions that
# logged it.
SERVING_PACKAGES = ("mlflow", "lightgbm", "pandas", "numpy", "pyyaml", "jsonschema")


def input_schema() -> Schema:
    """Raw bars: timestamps as ISO 8601 text (JSON) or tz-aware datetimes (Python)."""
    return Schema(
        [
            ColSpec("string", "ticker"),
            ColSpec(AnyType(), "timestamp"),
            *(ColSpec("double", c) for c in PRICE_COLUMNS),
        ]
    )


def pip_requirements(packages: tuple[str, ...] = SERVING_PACKAGES) -> list[str]:
    out = []
    for name in packages:
        try:
            out.append(f"{name}=={version(name)}")
        except PackageNotFoundError:
            out.append(name)
    return out


class RawBarsModel(PythonModel):  # type: ignore[misc]
    """Score the last bar of each ticker in a window of raw bars (see updown.serve.scoring)."""

    def load_context(self, context: Any) -> None:
        params_file = Path(context.artifacts["params"])
        self.features = build_params(read_yaml(params_file), str(params_file)).features
        self.profile = ModelProfile.from_dict(
            json.loads(Path(context.artifacts["profile"]).read_text())
        )
        self.booster = load_booster(Path(context.artifacts["booster"]).read_text())

    def predict(self, context: Any, model_input: pd.DataFrame, params: Any = None) -> pd.DataFrame:
        try:
            return score_bars(model_input, self.booster, self.features, self.profile)
        except UpdownError as exc:
            # MLflow's scoring server returns an MlflowException's message to the caller
            # (HTTP 400); any other exception becomes a generic "unexpected error".
            raise MlflowException(str(exc), error_code=INVALID_PARAMETER_VALUE) from exc


def example_bars(window: pd.DataFrame) -> pd.DataFrame:
    """Bars as a JSON caller sends them: timestamps as ISO 8601 text."""
    out = window.loc[:, ["ticker", "timestamp", *PRICE_COLUMNS]].copy()
    out["timestamp"] = [t.isoformat() for t in pd.DatetimeIndex(out["timestamp"])]
    out["ticker"] = out["ticker"].astype("object")
    return out.reset_index(drop=True)


def log_raw_bars_model(
    workdir: Path,
    model_text: str,
    params_text: str,
    profile: ModelProfile,
    example: pd.DataFrame,
    example_output: pd.DataFrame,
    registered_model_name: str | None,
) -> Any:
    """Log RawBarsModel as `model` in the active run; return MLflow's ModelInfo.

    The updown package and its params schema travel in the model's code folder, so the model
    loads wherever its pip requirements are installed.
    """
    workdir.mkdir(parents=True, exist_ok=True)
    files = {
        "booster": workdir / "model.txt",
        "params": workdir / "params.yaml",
        "profile": workdir / "profile.json",
    }
    files["booster"].write_text(model_text)
    files["params"].write_text(params_text)
    files["profile"].write_text(json.dumps(profile.as_dict(), indent=2, sort_keys=True) + "\n")
    outputs = infer_signature(example_output).inputs
    return mlflow.pyfunc.log_model(
        name="model",
        python_model=str(Path(__file__).with_name("serving_model.py")),
        artifacts={k: str(v) for k, v in files.items()},
        code_paths=[str(Path(config.__file__).parent), str(config.SCHEMA_PATH.parent)],
        signature=ModelSignature(inputs=input_schema(), outputs=outputs),
        input_example=example,
        pip_requirements=pip_requirements(),
        registered_model_name=registered_model_name,
        metadata={"updown_profile": profile.as_dict(), "input": "raw OHLCV bars"},
    )
