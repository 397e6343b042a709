"""`updown <stage>`: the one command per stage that Snakemake and DVC both run.

Only this module (and io.py) touch the file system; stage logic lives in pure functions.
Expected bad input becomes a one-line message and exit code 1.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from updown.errors import UpdownError

log = logging.getLogger("updown")


def _setup_logging(log_file: str | None) -> None:
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    if log_file:
        Path(log_file).parent.mkdir(parents=True, exist_ok=True)
        handlers.append(logging.FileHandler(log_file, mode="w"))
    logging.basicConfig(
        level=logging.INFO,
        format="%(asctime)s %(name)s %(levelname)s %(message)s",
        handlers=handlers,
        force=True,
    )


def cmd_acquire(a: argparse.Namespace) -> None:
    from updown.config import load_params
    from updown.io import check_ticker, ticker_path, write_parquet
    from updown.sources import get_fetch

    params = load_params(a.params)
    tickers = [check_ticker(t) for t in (a.ticker or params.data.tickers)]
    frames = get_fetch(params.data.source)(tickers, params.data)  # fetch everything before writing
    for ticker in tickers:
        path = ticker_path(a.out_dir, ticker)
        write_parquet(frames[ticker], path)
        log.info("acquired %s: %d rows -> %s", ticker, len(frames[ticker]), path)


def cmd_validate(a: argparse.Namespace) -> None:
    from updown.config import load_params
    from updown.io import read_parquet, ticker_path, write_json, write_parquet
    from updown.validate import validate_all

    params = load_params(a.params)
    raw = {t: read_parquet(ticker_path(a.raw_dir, t)) for t in params.data.tickers}
    panel, report = validate_all(raw, params.validate)
    for ticker in report["summary"]["tickers_dropped"]:
        log.warning("dropped %s: %s", ticker, "; ".join(report["tickers"][ticker]["problems"]))
    write_parquet(panel, a.out)
    write_json(report, a.report)
    log.info(
        "validated %d tickers, %d rows -> %s", report["summary"]["tickers_kept"], len(panel), a.out
    )


def cmd_label(a: argparse.Namespace) -> None:
    from updown.config import load_params
    from updown.io import read_parquet, write_parquet
    from updown.label import make_labels

    params = load_params(a.params)
    labels = make_labels(read_parquet(a.prices), params.label)
    if labels.empty:
        raise UpdownError(
            f"{a.prices}: no rows could be labelled with horizon {params.label.horizon}"
        )
    write_parquet(labels, a.out)
    log.info(
        "labelled %d rows (%s, horizon %d) -> %s",
        len(labels),
        params.label.kind,
        params.label.horizon,
        a.out,
    )


def cmd_features(a: argparse.Namespace) -> None:
    from updown.config import load_params
    from updown.features import feature_names, make_features
    from updown.io import read_parquet, write_parquet

    params = load_params(a.params)
    features = make_features(
        read_parquet(a.prices), params.features, intraday=params.data.interval != "1d"
    )
    write_parquet(features, a.out)
    log.info("%d features x %d rows -> %s", len(feature_names(features)), len(features), a.out)


def cmd_train(a: argparse.Namespace) -> None:
    from updown.config import load_params
    from updown.io import read_parquet, write_csv, write_json, write_text
    from updown.train import train_model, training_table

    params = load_params(a.params)
    labels = read_parquet(a.labels)
    table = training_table(read_parquet(a.features), labels, params.split)
    result = train_model(table, params.train, labels.attrs.get("label_kind", params.label.kind))
    write_text(result.model_text, a.model)
    write_json({**result.baselines, "best_iteration": result.best_iteration}, a.baselines)
    write_csv(result.curve, a.curve)
    log.info("trained: best iteration %d -> %s", result.best_iteration, a.model)


def cmd_evaluate(a: argparse.Namespace) -> None:
    from updown.config import load_params
    from updown.evaluate import evaluate, test_predictions
    from updown.io import read_json, read_parquet, write_json, write_parquet, write_text
    from updown.plots import write_plots
    from updown.report import render_report
    from updown.train import training_table

    params = load_params(a.params)
    model_text = Path(a.model).read_text()
    baselines = read_json(a.baselines)
    table = training_table(read_parquet(a.features), read_parquet(a.labels), params.split)
    predictions = test_predictions(table, model_text, baselines)
    import pandas as pd

    metrics = evaluate(predictions, params.evaluate, int(baselines["best_iteration"]))
    pngs = write_plots(predictions, pd.read_csv(a.curve), model_text, Path(a.plots))
    write_parquet(predictions, a.predictions)
    write_json(metrics, a.metrics)
    write_text(render_report(metrics, pngs, "updown report"), a.report)
    log.info(
        "test ROC AUC %s (%d rows) -> %s", metrics["model"]["roc_auc"], len(predictions), a.metrics
    )


def cmd_track(a: argparse.Namespace) -> None:
    from updown.config import load_params
    from updown.io import write_json
    from updown.track import TrackInputs, log_run

    params = load_params(a.params)
    inputs = TrackInputs(
        params_file=Path(a.params),
        model=Path(a.model),
        features=Path(a.features),
        labels=Path(a.labels),
        prices=Path(a.prices),
        metrics=Path(a.metrics),
        curve=Path(a.curve),
        report=Path(a.report),
        plots=Path(a.plots),
        validation=Path(a.validation),
    )
    run = log_run(params, inputs, Path.cwd())
    write_json(run, a.out)
    log.info("logged MLflow run %s at %s", run["run_id"], run["tracking_uri"])


def cmd_predict(a: argparse.Namespace) -> None:
    from updown.config import load_params
    from updown.io import read_json, read_parquet, write_csv
    from updown.predict import predict_latest

    params = load_params(a.params)
    run_id = read_json(a.run)["run_id"] if a.run else ""
    latest = predict_latest(
        read_parquet(a.prices),
        Path(a.model).read_text(),
        params.features,
        params.predict,
        params.data.interval,
        params.evaluate.threshold,
        run_id,
    )
    write_csv(latest, a.out)
    for row in latest.itertuples():
        log.info(
            "%s as of %s: %s (P(up)=%.3f)%s",
            row.ticker,
            row.as_of,
            row.direction,
            row.p_up,
            " STALE" if row.stale else "",
        )


def cmd_dvc_yaml(a: argparse.Namespace) -> None:
    from updown.dvcyaml import main as render_main

    if render_main(check=a.check):
        raise UpdownError("dvc.yaml is out of date with the Snakefile: run `updown dvc-yaml`")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="updown", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="stage", required=True, metavar="<stage>")

    def stage(
        name: str, func: Callable[[argparse.Namespace], None], help_: str, *args: tuple[str, str]
    ) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_)
        p.add_argument("--params", default="params.yaml", help="params file (default params.yaml)")
        p.add_argument("--log", default=None, help="also write the log to this file")
        for flag, what in args:
            p.add_argument(flag, required=True, help=what)
        p.set_defaults(func=func)
        return p

    acq = stage(
        "acquire",
        cmd_acquire,
        "fetch raw bars, one Parquet file per ticker",
        ("--out-dir", "folder for <ticker>.parquet"),
    )
    acq.add_argument("--ticker", action="append", help="ticker to fetch (repeatable; default: all)")
    stage(
        "validate",
        cmd_validate,
        "check raw bars and build the price panel",
        ("--raw-dir", "folder of raw <ticker>.parquet"),
        ("--out", "price panel (Parquet)"),
        ("--report", "validation summary (JSON)"),
    )
    stage(
        "label",
        cmd_label,
        "label each bar by what follows it",
        ("--prices", "price panel"),
        ("--out", "labels (Parquet)"),
    )
    stage(
        "features",
        cmd_features,
        "compute features from the price panel",
        ("--prices", "price panel"),
        ("--out", "features (Parquet)"),
    )
    stage(
        "train",
        cmd_train,
        "train LightGBM and the baselines",
        ("--features", "features"),
        ("--labels", "labels"),
        ("--model", "model (LightGBM text)"),
        ("--baselines", "baselines (JSON)"),
        ("--curve", "loss curve (CSV)"),
    )
    stage(
        "evaluate",
        cmd_evaluate,
        "test the model and baselines on the test block",
        ("--features", "features"),
        ("--labels", "labels"),
        ("--model", "model"),
        ("--baselines", "baselines"),
        ("--curve", "loss curve"),
        ("--metrics", "metrics (JSON)"),
        ("--plots", "plots folder"),
        ("--predictions", "test predictions (Parquet)"),
        ("--report", "report (HTML)"),
    )
    stage(
        "track",
        cmd_track,
        "log the result as one MLflow run",
        ("--model", "model"),
        ("--features", "features"),
        ("--labels", "labels"),
        ("--prices", "price panel"),
        ("--metrics", "metrics"),
        ("--curve", "loss curve"),
        ("--report", "report"),
        ("--plots", "plots folder"),
        ("--validation", "validation report"),
        ("--out", "run ids (JSON)"),
    )
    pred = stage(
        "predict",
        cmd_predict,
        "score the latest bar of each ticker",
        ("--model", "model"),
        ("--prices", "price panel"),
        ("--out", "latest (CSV)"),
    )
    pred.add_argument("--run", default=None, help="reports/mlflow_run.json, for the run id")
    dvc = sub.add_parser("dvc-yaml", help="render dvc.yaml from the Snakefile (or --check it)")
    dvc.add_argument("--check", action="store_true", help="exit 1 if dvc.yaml is not current")
    dvc.add_argument("--log", default=None)
    dvc.set_defaults(func=cmd_dvc_yaml)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    _setup_logging(args.log)
    try:
        args.func(args)
    except UpdownError as exc:
        message = " ".join(str(exc).split())
        log.debug("details", exc_info=True)
        print(f"updown {args.stage}: error: {message}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"updown {args.stage}: interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
