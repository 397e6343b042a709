"""Typed configuration built once from params.yaml, after validation against the JSON schema."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from updown.errors import UpdownError
from updown.safe_yaml import key_path, read_yaml

SCHEMA_PATH = Path(__file__).resolve().parent.parent / "schemas" / "params.schema.yaml"

# The schema requires every key, so a dataclass default would never reach a run built from
# params.yaml: there are none, except where tests build a config by hand (LabelConfig,
# SplitConfig, WalkForwardConfig), and tests/test_config.py holds those to params.yaml's values.


@dataclass(frozen=True)
class CsvConfig:
    path: str
    pattern: str
    timezone: str
    columns: dict[str, str | None]
    sep: str
    date_format: str | None  # strftime codes; None: ISO and other unambiguous forms
    dayfirst: bool  # 02/01/2020 is 2 January
    decimal: str
    thousands: str | None


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
    acquire_jobs: int
    interval: str
    start: dt.date
    end: dt.date | None  # None: up to the newest bar the source has
    csv: CsvConfig
    yfinance: YfinanceConfig
    overlap_bars: int  # yfinance updates refetch this many stored bars and compare them


@dataclass(frozen=True)
class ValidateConfig:
    on_error: str
    bad_rows: str
    max_bad_row_fraction: float
    min_rows: int
    max_gap_days: float
    on_gap: str  # split (the ticker into segments) | fail (a ticker error)
    zero_volume: str  # drop_features | drop (the ticker) | fail (a ticker error)
    max_abs_log_return: float
    overrides: dict[str, str]

    def policy_for(self, ticker: str) -> str:
        return self.overrides.get(ticker, self.on_error)


@dataclass(frozen=True)
class LabelConfig:
    kind: str  # direction | return | triple_barrier
    horizon: int
    threshold: float
    threshold_unit: str = "return"  # return | volatility
    dead_zone: str = "drop"  # drop | keep (direction: third class, label 2)
    excess: bool = False
    vol_window: int = 20
    profit_take: float = 1.0
    stop_loss: float = 1.0
    # auto | close | next_open | next_close; `auto` is resolved against the backtest's execution
    # by updown.learn.label.resolved (config stays free of the returns code).
    entry: str = "auto"
    shards: int = 1  # jobs the stage is split into by ticker (1: one job); values unchanged


@dataclass(frozen=True)
class FeaturesConfig:
    return_windows: tuple[int, ...]
    volatility_windows: tuple[int, ...]
    ma_windows: tuple[int, ...]
    range_windows: tuple[int, ...]
    volume_windows: tuple[int, ...]
    calendar: bool
    preset: str  # all | qlib14
    trend_windows: tuple[int, ...]
    quantile_windows: tuple[int, ...]
    oscillator_windows: tuple[int, ...]
    corr_windows: tuple[int, ...]
    candle: bool
    calendar_timezone: str
    cross_sectional: tuple[str, ...]
    shards: int  # jobs the stage is split into by ticker (1: one job); values unchanged
    threads: int  # threads of the one job, each computing whole tickers; values unchanged


@dataclass(frozen=True)
class WalkForwardConfig:
    folds: int = 4
    window: str = "expanding"  # expanding | rolling
    valid_bars: int = 252
    train_bars: int = 1260


@dataclass(frozen=True)
class SplitConfig:
    train_end: dt.date
    valid_end: dt.date
    embargo_bars: int
    mode: str = "holdout"  # holdout | walk_forward
    walk_forward: WalkForwardConfig = WalkForwardConfig()


@dataclass(frozen=True)
class DaskConfig:
    scheduler: str  # tcp://host:8786 (a running scheduler) | local:N (a LocalCluster here)
    threads_per_worker: int  # local:N only
    memory_limit: str | None  # local:N only: per-worker limit ('4GB'); None: no limit
    timeout_minutes: int  # LightGBM's network time_out, and how long a worker waits for another


@dataclass(frozen=True)
class TrainConfig:
    seed: int
    num_threads: int
    objective: str
    metric: str
    num_boost_round: int
    early_stopping_rounds: int
    learning_rate: float
    num_leaves: int
    max_depth: int
    min_data_in_leaf: int
    feature_fraction: float
    bagging_fraction: float
    bagging_freq: int
    lambda_l1: float
    lambda_l2: float
    min_gain_to_split: float
    extra: dict[str, Any]
    linear_c: float
    baseline_max_rows: int
    sample_weight: str  # none | uniqueness (updown.learn.uniqueness)
    engine: str  # local | dask (updown.learn.train_dask)
    dask: DaskConfig


@dataclass(frozen=True)
class BootstrapConfig:
    resamples: int
    block_bars: int
    confidence: float
    seed: int


@dataclass(frozen=True)
class BacktestConfig:
    mode: str
    execution: str
    cost_bps: float
    quantile: float
    periods_per_year: float | None
    top_k: int | None
    max_swaps: int
    hold_bars: int
    band: float
    cost_curve_bps: tuple[float, ...]


@dataclass(frozen=True)
class EvaluateConfig:
    threshold: float
    headline: str
    calibration_bins: int
    bootstrap: BootstrapConfig
    backtest: BacktestConfig
    horizons: tuple[int, ...]  # the signal sheet's holding horizons, bars (sorted)
    quantiles: int  # the signal sheet's score quantiles
    block: str  # test (the untouched test block) | validation (what a sweep chooses by)
    threads: int  # reading the scored rows' features and scoring them; values unchanged


@dataclass(frozen=True)
class MlflowConfig:
    tracking_uri: str | None
    experiment: str
    registered_model: str | None
    registered_alias: str


@dataclass(frozen=True)
class PredictConfig:
    max_staleness_bars: int
    history_bars: int


@dataclass(frozen=True)
class MonitorConfig:
    journal: str  # folder of the append-only journal and alias history (outside the DAG)
    window_bars: int
    min_matured: int
    psi_threshold: float


@dataclass(frozen=True)
class RetrainConfig:
    every_bars: int  # the live loop retrains after this many bars since the last retrain
    on_drift: bool
    min_bars: int  # a drift alert retrains only this many bars after the last retrain
    shadow_bars: int  # matured bars of shadow calls before the gate decides
    margin: float
    metric: str  # a live figure (updown.live.figures), or auto: the headline's
    roll_split: bool


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
    monitor: MonitorConfig
    retrain: RetrainConfig
    raw: dict[str, Any]


def schema_errors(raw: Any, schema: dict[str, Any] | None = None) -> list[str]:
    """Every schema violation of `raw`, each as 'key.path: what is wrong', sorted by key path."""
    import jsonschema

    schema = schema if schema is not None else read_yaml(SCHEMA_PATH)
    validator = jsonschema.Draft202012Validator(schema)
    messages = []
    for err in validator.iter_errors(raw):
        where = key_path(err.absolute_path)
        if err.validator == "additionalProperties" and isinstance(err.instance, dict):
            allowed = set(err.schema.get("properties", {}))
            extra = sorted(k for k in err.instance if k not in allowed)
            for key in extra:
                path = f"{where}.{key}" if err.absolute_path else key
                messages.append(f"{path}: unknown key (allowed: {', '.join(sorted(allowed))})")
            continue
        if err.validator == "pattern" and "tickers" in where:
            shown = repr(err.instance)
            if len(shown) > 42:  # a pasted blob: enough to recognise it, not a screenful
                shown = f"{shown[:40]}... ({len(err.instance)} characters)"
            messages.append(
                f"{where}: ticker {shown} is not safe as a file name "
                "(use letters, digits and . ^ = _ -, at most 32, no leading dot or '..')"
            )
            continue
        message = err.message if len(err.message) <= 300 else f"{err.message[:297]}..."
        messages.append(f"{where}: {message}")
    return sorted(set(messages))


def _date(value: str, key: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value)
    except ValueError as exc:
        raise UpdownError(f"{key}: {value!r} is not a valid date (YYYY-MM-DD)") from exc


def _features(f: dict[str, Any]) -> FeaturesConfig:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    values: dict[str, Any] = {k: tuple(v) if isinstance(v, list) else v for k, v in f.items()}
    try:
        ZoneInfo(values["calendar_timezone"])
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise UpdownError(
            f"features.calendar_timezone: unknown time zone {values['calendar_timezone']!r}"
        ) from exc
    return FeaturesConfig(**values)


def _evaluate(e: dict[str, Any]) -> EvaluateConfig:
    return EvaluateConfig(
        **{
            **e,
            "bootstrap": BootstrapConfig(**e["bootstrap"]),
            "backtest": BacktestConfig(
                **{**e["backtest"], "cost_curve_bps": tuple(e["backtest"]["cost_curve_bps"])}
            ),
            "horizons": tuple(sorted(e["horizons"])),
        }
    )


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
        acquire_jobs=d["acquire_jobs"],
        interval=d["interval"],
        start=_date(d["start"], f"{source}: data.start"),
        end=None if d["end"] is None else _date(d["end"], f"{source}: data.end"),
        csv=CsvConfig(**{**d["csv"], "columns": dict(d["csv"]["columns"])}),
        yfinance=YfinanceConfig(**d["yfinance"]),
        overlap_bars=d["overlap_bars"],
    )
    split = SplitConfig(
        train_end=_date(s["train_end"], f"{source}: split.train_end"),
        valid_end=_date(s["valid_end"], f"{source}: split.valid_end"),
        embargo_bars=s["embargo_bars"],
        mode=s["mode"],
        walk_forward=WalkForwardConfig(**s["walk_forward"]),
    )
    label = LabelConfig(**raw["label"])
    if label.excess and label.kind == "triple_barrier":
        raise UpdownError(
            f"{source}: label.excess applies to direction and return labels, not triple_barrier "
            "(its barriers follow each ticker's own path)"
        )
    if data.end is not None and data.start >= data.end:
        raise UpdownError(
            f"{source}: data.start ({data.start}) must be before data.end ({data.end})"
        )
    # data.end: null (the newest bar) bounds nothing here; train checks the data's own range.
    end = data.end or dt.date.max
    if not data.start < split.train_end < split.valid_end < end:
        raise UpdownError(
            f"{source}: split dates must satisfy data.start < split.train_end < split.valid_end "
            f"< data.end; got {data.start} < {split.train_end} < {split.valid_end} < {data.end}"
        )
    marks = [m for m in (data.csv.sep, data.csv.decimal, data.csv.thousands) if m is not None]
    if len(set(marks)) < len(marks):
        raise UpdownError(
            f"{source}: data.csv.sep {data.csv.sep!r}, data.csv.decimal {data.csv.decimal!r} and "
            f"data.csv.thousands {data.csv.thousands!r} must differ (a ';'-separated file with "
            "1.234,56 numbers: sep ';', decimal ',', thousands '.')"
        )
    if data.source == "sample" and data.interval != "1d":
        raise UpdownError(f"{source}: data.interval: the sample source has daily bars only (1d)")
    return Params(
        data=data,
        validate=ValidateConfig(**{**v, "overrides": dict(v["overrides"])}),
        label=label,
        features=_features(raw["features"]),
        split=split,
        train=TrainConfig(**{**raw["train"], "dask": DaskConfig(**raw["train"]["dask"])}),
        evaluate=_evaluate(raw["evaluate"]),
        mlflow=MlflowConfig(**raw["mlflow"]),
        predict=PredictConfig(**raw["predict"]),
        monitor=MonitorConfig(**raw["monitor"]),
        retrain=RetrainConfig(**raw["retrain"]),
        raw=raw,
    )


def load_params(path: Path | str = "params.yaml") -> Params:
    """Read, validate and type params.yaml; any problem is an UpdownError naming file and key."""
    return build_params(read_yaml(Path(path)), source=str(path))
