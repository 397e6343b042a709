"""`updown predict`: score the latest bar of every ticker (--out) and journal the calls, or
answer for one (--ticker; journalled with --journal). With `mlflow.registered_model` set, the
registry's @champion answers (updown.live.champion), or the version --version names; otherwise
models/model.txt."""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

import pandas as pd

from updown.config import Params, load_params
from updown.data.sources import get_fetch
from updown.errors import UpdownError
from updown.io import check_ticker, read_json, read_parquet, write_csv
from updown.live.calls import predict_step
from updown.live.champion import ServedModel, resolve_champion, resolve_version
from updown.live.journal import append_predictions, journal_rows
from updown.serve.predict import answer, fetch_bars, parse_as_of
from updown.serve.profile import model_profile

log = logging.getLogger("updown")


def _run_id(path: str | None) -> str:
    if not path or not Path(path).exists():
        return ""
    return str(read_json(path).get("run_id", ""))


def run(a: argparse.Namespace) -> None:
    params = load_params(a.params)
    now = pd.Timestamp.now(tz="UTC")
    if a.version and (a.journal or not a.ticker):
        raise UpdownError("predict: --version answers a --ticker question, unjournalled")
    if a.ticker:
        model = served(a, params, now)
        row = answer_question(a, model)
        if a.journal:
            rows = journal_rows(pd.DataFrame([row]), model.params, model.identity, "champion", now)
            added = append_predictions(params.monitor.journal, rows)
            log.info("journal %s: %d new call(s)", params.monitor.journal, len(added))
        return
    if not a.out:
        raise UpdownError("predict: give --out (score the latest bar of every ticker) or --ticker")
    prices = read_parquet(a.prices)
    latest, _ = predict_step(prices, params, a.model, _run_id(a.run), Path.cwd(), now)
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


def served(a: argparse.Namespace, params: Params, now: pd.Timestamp) -> ServedModel:
    """The model that answers: --version, else the champion (or the model file)."""
    if a.version:
        return resolve_version(params, Path.cwd(), a.version)
    return resolve_champion(params, a.model, _run_id(a.run), Path.cwd(), now)


def answer_question(a: argparse.Namespace, model: ServedModel) -> dict:
    """`updown predict --ticker T [--as-of DAY] [--json]`: up or down from that bar, how sure."""
    params, model_text = model.params, model.model_text
    ticker = check_ticker(a.ticker)
    prices = read_parquet(a.prices)
    profile = model_profile(prices, model_text, params, model.run_id)
    as_of = parse_as_of(a.as_of)[0] if a.as_of else None
    # data.end: null: the acquired bars already run to the newest the source had
    end = params.data.end
    beyond = as_of is not None and end is not None and as_of.date() > end
    if ticker not in set(prices["ticker"]) or beyond:
        needed = sorted({ticker, *(profile.tickers if profile.cross_sectional else ())})
        when = as_of if as_of is not None else pd.Timestamp.now(tz="UTC")
        log.info("fetching %s from %s up to %s", ", ".join(needed), params.data.source, when)
        prices = fetch_bars(needed, when, params, profile, get_fetch(params.data.source))
    row = answer(prices, ticker, as_of, model_text, params, profile)
    print(format_answer(ticker, row, a.json))
    return row


def format_answer(ticker: str, row: dict, as_json: bool) -> str:
    """One line for a person, or the answer as one JSON object with every bit of the number."""
    if as_json:
        return json.dumps(row, sort_keys=True)
    value = (
        f"P(up) = {row['p_up']:.4f}"
        if "p_up" in row
        else f"predicted return {row['predicted_return']:+.5f}"
    )
    run = f", model run {row['run_id'][:8]}" if row["run_id"] else ""
    stale = " (STALE: no recent bar)" if row["stale"] else ""
    return f"{ticker} as of {row['as_of']}: {row['direction']}, {value}{run}{stale}"
