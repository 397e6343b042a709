"""`updown predict`: score the latest bar of every ticker (--out), or answer for one (--ticker)."""

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
from updown.serve.predict import answer, fetch_bars, parse_as_of, predict_latest
from updown.serve.profile import model_profile

log = logging.getLogger("updown")


def _model_text(path: str) -> str:
    try:
        return Path(path).read_text()
    except FileNotFoundError as exc:
        raise UpdownError(f"{path}: file not found (run the pipeline to train a model)") from exc


def _run_id(path: str | None) -> str:
    if not path or not Path(path).exists():
        return ""
    return str(read_json(path).get("run_id", ""))


def run(a: argparse.Namespace) -> None:
    params = load_params(a.params)
    if a.ticker:
        answer_question(a, params)
        return
    if not a.out:
        raise UpdownError("predict: give --out (score the latest bar of every ticker) or --ticker")
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


def answer_question(a: argparse.Namespace, params: Params) -> None:
    """`updown predict --ticker T [--as-of DAY] [--json]`: up or down from that bar, how sure."""
    ticker = check_ticker(a.ticker)
    model_text = _model_text(a.model)
    prices = read_parquet(a.prices)
    profile = model_profile(prices, model_text, params, _run_id(a.run))
    as_of = parse_as_of(a.as_of)[0] if a.as_of else None
    # data.end: null: the acquired bars already run to the newest the source had
    end = params.data.end
    beyond = as_of is not None and end is not None and as_of.date() > end
    if ticker not in set(prices["ticker"]) or beyond:
        needed = sorted({ticker, *(profile.tickers if profile.cross_sectional else ())})
        when = as_of if as_of is not None else pd.Timestamp.now(tz="UTC")
        log.info("fetching %s from %s up to %s", ", ".join(needed), params.data.source, when)
        prices = fetch_bars(needed, when, params, profile, get_fetch(params.data.source))
    print(format_answer(ticker, answer(prices, ticker, as_of, model_text, params, profile), a.json))


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
