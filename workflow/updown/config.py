"""Typed configuration built once from params.yaml, after validation against the JSON schema."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from updown.errors import UpdownError

SCHEMA_PATH = Path(__file__).resolve().parent.parent / "schemas" / "params.schema.yaml"


@dataclass(frozen=True)
class CsvConfig:
    path: str
    pattern: str
    timezone: str
    columns: dict[str, str | None]


@dataclass(frozen=True)
class YfinanceConfig:
    auto_adjust: bool
    batch_size: int
    retries: int
    backoff_seconds: float
    timeout_seconds: float


@dataclass(frozen=True)
class DataConfig:
    source: str
    tickers: tuple[str, ...]
    interval: str
    start: dt.date
    end: dt.date
    csv: CsvConfig
    yfinance: YfinanceConfig


@dataclass(frozen=True)
class ValidateConfig:
    on_error: str
    bad_rows: str
    max_bad_row_fraction: float
    min_rows: int
    max_gap_days: float
    max_abs_log_return: float
    overrides: dict[str, str] = field(default_factory=dict)

    def policy_for(self, ticker: str) -> str:
        return self.overrides.get(ticker, self.on_error)


@dataclass(frozen=True)
class LabelConfig:
    kind: str
    horizon: int
    threshold: float


@dataclass(frozen=True)
class FeaturesConfig:
    return_windows: tuple[int, ...]
    volatility_windows: tuple[int, ...]
    ma_windows: tuple[int, ...]
    range_windows: tuple[int, ...]
    volume_windows: tuple[int, ...]
    calendar: bool


@dataclass(frozen=True)
class SplitConfig:
    train_end: dt.date
    valid_end: dt.date
    embargo_bars: int


@dataclass(frozen=True)
class TrainConfig:
    seed: int
    num_threads: int
    num_boost_round: int
    early_stopping_rounds: int
    learning_rate: float
    num_leaves: int
    min_data_in_leaf: int
    feature_fraction: float
    bagging_fraction: float
    bagging_freq: int
    lambda_l2: float
    extra: dict[str, Any]
    linear_c: float


@dataclass(frozen=True)
class EvaluateConfig:
    threshold: float


@dataclass(frozen=True)
class MlflowConfig:
    tracking_uri: str | None
    experiment: str
    registered_model: str | None


@dataclass(frozen=True)
class PredictConfig:
    max_staleness_bars: int


@dataclass(frozen=True)
class Params:
    data: DataConfig
    validate: ValidateConfig
    label: LabelConfig
    features: FeaturesConfig
    split: SplitConfig
    train: TrainConfig
    evaluate: EvaluateConfig
    mlflow: MlflowConfig
    predict: PredictConfig
    raw: dict[str, Any]


def read_yaml(path: Path) -> Any:
    """Parse a YAML file; a syntax error names the file and line."""
    try:
        text = Path(path).read_text()
    except OSError as exc:
        raise UpdownError(f"{path}: cannot read: {exc.strerror or exc}") from exc
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise UpdownError(f"{path}:{where}: YAML syntax error: {problem}") from exc


def _key_path(parts: Any) -> str:
    out = ""
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def schema_errors(raw: Any, schema: dict[str, Any] | None = None) -> list[str]:
    """Every schema violation of `raw`, each as 'key.path: what is wrong', sorted by key path."""
    import jsonschema

    schema = schema if schema is not None else read_yaml(SCHEMA_PATH)
    validator = jsonschema.Draft202012Validator(schema)
    messages = []
    for err in validator.iter_errors(raw):
        where = _key_path(err.absolute_path)
        if err.validator == "additionalProperties" and isinstance(err.instance, dict):
            allowed = set(err.schema.get("properties", {}))
            extra = sorted(k for k in err.instance if k not in allowed)
            for key in extra:
                path = f"{where}.{key}" if err.absolute_path else key
                messages.append(f"{path}: unknown key (allowed: {', '.join(sorted(allowed))})")
            continue
        if err.validator == "pattern" and "tickers" in where:
            messages.append(
                f"{where}: ticker {err.instance!r} is not safe as a file name "
                "(use letters, digits and . ^ = _ -, at most 32, no leading dot or '..')"
            )
            continue
        messages.append(f"{where}: {err.message}")
    return sorted(set(messages))


def _date(value: str, key: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value)
    except ValueError as exc:
        raise UpdownError(f"{key}: {value!r} is not a valid date (YYYY-MM-DD)") from exc


def _features(f: dict[str, Any]) -> FeaturesConfig:
    values: dict[str, Any] = {k: tuple(v) if isinstance(v, list) else v for k, v in f.items()}
    return FeaturesConfig(**values)


def build_params(raw: dict[str, Any], source: str = "params.yaml") -> Params:
    """Validate `raw` (the parsed params.yaml) and build the typed config; errors name the key."""
    if not isinstance(raw, dict):
        raise UpdownError(f"{source}: expected a mapping of sections, got {type(raw).__name__}")
    errors = schema_errors(raw)
    if errors:
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        raise UpdownError(f"{source}: {errors[0]}{more}")
    d, v, s = raw["data"], raw["validate"], raw["split"]
    data = DataConfig(
        source=d["source"],
        tickers=tuple(d["tickers"]),
        interval=d["interval"],
        start=_date(d["start"], "data.start"),
        end=_date(d["end"], "data.end"),
        csv=CsvConfig(**{**d["csv"], "columns": dict(d["csv"]["columns"])}),
        yfinance=YfinanceConfig(**d["yfinance"]),
    )
    split = SplitConfig(
        train_end=_date(s["train_end"], "split.train_end"),
        valid_end=_date(s["valid_end"], "split.valid_end"),
        embargo_bars=s["embargo_bars"],
    )
    if data.start >= data.end:
        raise UpdownError(
            f"{source}: data.start ({data.start}) must be before data.end ({data.end})"
        )
    if not data.start < split.train_end < split.valid_end < data.end:
        raise UpdownError(
            f"{source}: split dates must satisfy data.start < split.train_end < split.valid_end "
            f"< data.end; got {data.start} < {split.train_end} < {split.valid_end} < {data.end}"
        )
    if data.source == "sample" and data.interval != "1d":
        raise UpdownError(f"{source}: data.interval: the sample source has daily bars only (1d)")
    return Params(
        data=data,
        validate=ValidateConfig(**{**v, "overrides": dict(v["overrides"])}),
        label=LabelConfig(**raw["label"]),
        features=_features(raw["features"]),
        split=split,
        train=TrainConfig(**raw["train"]),
        evaluate=EvaluateConfig(**raw["evaluate"]),
        mlflow=MlflowConfig(**raw["mlflow"]),
        predict=PredictConfig(**raw["predict"]),
        raw=raw,
    )


def load_params(path: Path | str = "params.yaml") -> Params:
    """Read, validate and type params.yaml; any problem is an UpdownError naming file and key."""
    return build_params(read_yaml(Path(path)), source=str(path))
