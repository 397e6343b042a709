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
from typing import TYPE_CHECKING

from updown.errors import UpdownError, describe_error

if TYPE_CHECKING:
    from updown.config import Params

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
    for ticker in params.data.tickers:
        if not ticker_path(a.raw_dir, ticker).exists():
            # dvc.yaml lists each acquire stage's tickers, so a ticker added to params.yaml
            # after dvc.yaml was rendered has no stage: say so rather than "file not found".
            raise UpdownError(
                f"{ticker_path(a.raw_dir, ticker)}: no raw bars for {ticker} of data.tickers; "
                "acquire it first (`snakemake`, or with DVC: `updown dvc-yaml` after changing "
                "data.tickers, then `dvc repro`)"
            )
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
        cfg = params.label
        raise UpdownError(
            f"{a.prices}: no rows could be labelled (label.horizon={cfg.horizon}, "
            f"label.threshold={cfg.threshold}): a row needs label.horizon bars after it and, "
            "unless label.dead_zone is keep, a forward return beyond the threshold"
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
    from updown.batches import feature_batches
    from updown.config import load_params
    from updown.guards import check_feature_history
    from updown.io import read_parquet, write_parquet_batches

    params = load_params(a.params)
    prices = read_parquet(a.prices)
    check_feature_history(prices, params.features)
    # A long panel is computed and written in whole-ticker batches, so memory stays bounded;
    # the file holds the same values as one pass.
    batches = feature_batches(prices, params.features, intraday=params.data.interval != "1d")
    rows, columns = write_parquet_batches(batches, a.out)
    log.info("%d features x %d rows -> %s", columns - 2, rows, a.out)


def cmd_train(a: argparse.Namespace) -> None:
    from updown.config import load_params
    from updown.guards import check_split_dates
    from updown.io import read_parquet, write_csv, write_json, write_text
    from updown.tables import read_training_table
    from updown.train import train_model

    params = load_params(a.params)
    labels = read_parquet(a.labels)
    check_split_dates(labels["timestamp"], params.split)
    kind = labels.attrs.get("label_kind", params.label.kind)
    table = read_training_table(a.features, labels)  # column by column: bounded memory
    result = train_model(table, params.split, params.train, kind)
    folds = Path(a.folds)
    folds.mkdir(parents=True, exist_ok=True)
    for stale in folds.glob("fold_*.txt"):  # a previous run may have had more folds
        stale.unlink()
    for f in result.folds:
        write_text(f.model_text, folds / f"fold_{f.fold:02d}.txt")
    write_csv(result.fold_curves(), folds / "curves.csv")
    write_text(result.final.model_text, a.model)
    summary = {
        **result.summary(),
        "label_kind": kind,
        "horizon": labels.attrs.get("horizon", str(params.label.horizon)),
        "split_mode": params.split.mode,
    }
    write_json(summary, a.baselines)
    write_csv(result.final.curve, a.curve)
    log.info(
        "trained %s (%s) on %d fold(s): best iteration %d -> %s",
        result.objective,
        kind,
        len(result.folds),
        result.final.best_iteration,
        a.model,
    )


def cmd_evaluate(a: argparse.Namespace) -> None:
    import numpy as np
    import pandas as pd

    from updown.config import load_params
    from updown.evaluate import FoldInput, evaluate
    from updown.io import read_json, read_parquet, write_json, write_parquet, write_text
    from updown.plots import write_plots
    from updown.report import render_report
    from updown.tables import read_training_table, training_keys
    from updown.train import fold_blocks, task_for

    params = load_params(a.params)
    summary = read_json(a.baselines)
    labels = read_parquet(a.labels)
    kind = labels.attrs.get("label_kind", params.label.kind)
    if kind != summary.get("label_kind"):
        raise UpdownError(
            f"{a.baselines}: trained on {summary.get('label_kind')!r} labels but {a.labels} "
            f"holds {kind!r}: rerun train"
        )
    # The folds come from the label columns alone; only the test rows' features are read.
    blocks = fold_blocks(training_keys(a.features, labels)[0], params.split)
    tested = np.flatnonzero(np.logical_or.reduce([(b == "test").to_numpy() for b in blocks]))
    table = read_training_table(a.features, labels, keep=tested)
    blocks = [b.iloc[tested].reset_index(drop=True) for b in blocks]
    if len(blocks) != len(summary["folds"]):
        raise UpdownError(
            f"{a.folds}: {len(summary['folds'])} trained fold(s), but the split now gives "
            f"{len(blocks)}: rerun train"
        )
    folds = []
    for b, f in zip(blocks, summary["folds"], strict=True):
        path = Path(a.folds) / f"fold_{f['fold']:02d}.txt"
        if not path.is_file():
            raise UpdownError(f"{path}: fold model missing: rerun train")
        folds.append(FoldInput(f["fold"], b, path.read_text(), f["baselines"]))
    model_text = Path(a.model).read_text()
    ev = evaluate(
        table,
        folds,
        read_parquet(a.prices),
        task_for(kind),
        params.evaluate,
        int(summary["best_iteration"]),
    )
    ev.context["loss_name"] = summary["metric"]
    curves = pd.read_csv(Path(a.folds) / "curves.csv")
    figures = write_plots(ev, curves, model_text, Path(a.plots), params.evaluate.calibration_bins)
    meta = {
        "label_kind": kind,
        "horizon": summary.get("horizon", "?"),
        "objective": summary["objective"],
        "metric": summary["metric"],
        "split_mode": summary.get("split_mode", params.split.mode),
    }
    write_parquet(ev.predictions, a.predictions)
    write_json(ev.metrics, a.metrics)
    write_text(render_report(ev, figures, meta), a.report)
    boot = ev.metrics[f"bootstrap_{ev.headline}"]
    log.info(
        "test %s %s (%s..%s), %d rows; verdict vs baselines %s -> %s",
        ev.headline,
        ev.intervals["model"].point,
        boot.get("model_lo"),
        boot.get("model_hi"),
        len(ev.predictions),
        ev.metrics["verdict"],
        a.metrics,
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
        baselines=Path(a.baselines) if a.baselines else None,
        folds=Path(a.folds) if a.folds else None,
    )
    run = log_run(params, inputs, Path.cwd())
    write_json(run, a.out)
    log.info("logged MLflow run %s at %s", run["run_id"], run["tracking_uri"])
    if run["run_url"]:
        log.info("view it at %s", run["run_url"])


def _model_text(path: str) -> str:
    try:
        return Path(path).read_text()
    except FileNotFoundError as exc:
        raise UpdownError(f"{path}: file not found (run the pipeline to train a model)") from exc


def _run_id(path: str | None) -> str:
    from updown.io import read_json

    if not path or not Path(path).exists():
        return ""
    return str(read_json(path).get("run_id", ""))


def cmd_predict(a: argparse.Namespace) -> None:
    from updown.config import load_params
    from updown.io import read_parquet, write_csv

    params = load_params(a.params)
    if a.ticker:
        _answer_question(a, params)
        return
    if not a.out:
        raise UpdownError("predict: give --out (score the latest bar of every ticker) or --ticker")
    from updown.predict import predict_latest

    latest = predict_latest(read_parquet(a.prices), _model_text(a.model), params, _run_id(a.run))
    write_csv(latest, a.out)
    value = "p_up" if "p_up" in latest.columns else "predicted_return"
    for row in latest.to_dict("records"):
        log.info(
            "%s as of %s: %s (%s=%.4f)%s",
            row["ticker"],
            row["as_of"],
            row["direction"],
            value,
            row[value],
            " STALE" if row["stale"] else "",
        )


def _answer_question(a: argparse.Namespace, params: Params) -> None:
    """`updown predict --ticker T [--as-of DAY] [--json]`: up or down from that bar, how sure."""
    import json

    import pandas as pd

    from updown.io import check_ticker, read_parquet
    from updown.predict import answer, fetch_bars, model_profile, parse_as_of

    ticker = check_ticker(a.ticker)
    model_text = _model_text(a.model)
    prices = read_parquet(a.prices)
    profile = model_profile(prices, model_text, params, _run_id(a.run))
    as_of = parse_as_of(a.as_of)[0] if a.as_of else None
    beyond = as_of is not None and as_of.date() > params.data.end
    if ticker not in set(prices["ticker"]) or beyond:
        from updown.sources import get_fetch

        needed = sorted({ticker, *(profile.tickers if profile.cross_sectional else ())})
        when = as_of if as_of is not None else pd.Timestamp.now(tz="UTC")
        log.info("fetching %s from %s up to %s", ", ".join(needed), params.data.source, when)
        prices = fetch_bars(needed, when, params, profile, get_fetch(params.data.source))
    row = answer(prices, ticker, as_of, model_text, params, profile)
    if a.json:
        print(json.dumps(row, sort_keys=True))
        return
    value = (
        f"P(up) = {row['p_up']:.4f}"
        if "p_up" in row
        else f"predicted return {row['predicted_return']:+.5f}"
    )
    run = f", model run {row['run_id'][:8]}" if row["run_id"] else ""
    stale = " (STALE: no recent bar)" if row["stale"] else ""
    print(f"{ticker} as of {row['as_of']}: {row['direction']}, {value}{run}{stale}")


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
        ("--model", "deployed model (LightGBM text; the last fold's)"),
        ("--folds", "folder of every fold's model and loss curve"),
        ("--baselines", "baselines and fold summary (JSON)"),
        ("--curve", "loss curve of the deployed model (CSV)"),
    )
    stage(
        "evaluate",
        cmd_evaluate,
        "test the model and baselines on the test block",
        ("--features", "features"),
        ("--labels", "labels"),
        ("--prices", "price panel (for the backtest)"),
        ("--model", "deployed model"),
        ("--folds", "folder of fold models (from train)"),
        ("--baselines", "baselines"),
        ("--metrics", "metrics (JSON)"),
        ("--plots", "plots folder"),
        ("--predictions", "test predictions (Parquet)"),
        ("--report", "report (HTML)"),
    )
    track = stage(
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
    track.add_argument("--baselines", default=None, help="baselines (JSON), logged as an artifact")
    track.add_argument("--folds", default=None, help="per-fold models and loss curves (folder)")
    pred = stage(
        "predict",
        cmd_predict,
        "score the latest bar of each ticker (--out), or answer for one (--ticker)",
    )
    pred.add_argument("--model", default="models/model.txt", help="model (LightGBM text)")
    pred.add_argument("--prices", default="data/interim/prices.parquet", help="price panel")
    pred.add_argument("--out", default=None, help="latest bar of every ticker, scored (CSV)")
    pred.add_argument(
        "--run", default="reports/mlflow_run.json", help="the track stage's run ids (JSON)"
    )
    pred.add_argument("--ticker", default=None, help="answer for this ticker only")
    pred.add_argument(
        "--as-of",
        default=None,
        help="the bar to answer from: the last at or before this date (end of day, UTC) or "
        "time; default the newest",
    )
    pred.add_argument("--json", action="store_true", help="print the answer as JSON")
    dvc = sub.add_parser("dvc-yaml", help="render dvc.yaml from the Snakefile (or --check it)")
    dvc.add_argument("--check", action="store_true", help="exit 1 if dvc.yaml is not current")
    dvc.add_argument("--log", default=None)
    dvc.set_defaults(func=cmd_dvc_yaml)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        _setup_logging(args.log)
        args.func(args)
    except (UpdownError, OSError) as exc:
        # OSError: a disk that is full, read-only or refuses us, met outside io.py's helpers.
        message = " ".join(describe_error(exc).split())
        log.debug("details", exc_info=True)
        print(f"updown {args.stage}: error: {message}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"updown {args.stage}: interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
