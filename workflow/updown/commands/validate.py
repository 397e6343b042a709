"""`updown validate`: check the raw bars and build the price panel."""

from __future__ import annotations

import argparse
import logging

from updown.config import load_params
from updown.data.validate import validate_all
from updown.errors import UpdownError
from updown.io import read_parquet, ticker_path, write_json, write_parquet

log = logging.getLogger("updown")


def run(a: argparse.Namespace) -> None:
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
