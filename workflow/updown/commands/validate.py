"""`updown validate`: check the raw bars and build the price panel."""

from __future__ import annotations

import argparse
import logging

from updown.config import load_params
from updown.data.snapshot import SNAPSHOT_KEY, add_revisions, decode
from updown.data.validate import validate_all
from updown.errors import UpdownError
from updown.io import parquet_metadata, read_parquet, ticker_path, write_json, write_parquet

log = logging.getLogger("updown")


def run(a: argparse.Namespace) -> None:
    params = load_params(a.params)
    missing = {}
    for ticker in params.data.tickers:
        path = ticker_path(a.raw_dir, ticker)
        if path.exists():
            continue
        if params.validate.policy_for(ticker) == "drop":
            missing[ticker] = f"{path} does not exist (acquire fetched nothing for it)"
            continue
        # dvc.yaml lists each acquire stage's tickers, so a ticker added to params.yaml
        # after dvc.yaml was rendered has no stage: say so rather than "file not found".
        raise UpdownError(
            f"{path}: no raw bars for {ticker} of data.tickers; acquire it first (`snakemake`, "
            "or with DVC: `updown dvc-yaml` after changing data.tickers, then `dvc repro`), or "
            f"set validate.overrides.{ticker}: drop to leave it out"
        )
    raw = {
        t: read_parquet(ticker_path(a.raw_dir, t)) for t in params.data.tickers if t not in missing
    }
    panel, report = validate_all(raw, params.validate, missing)
    metas = {t: decode(parquet_metadata(ticker_path(a.raw_dir, t), SNAPSHOT_KEY)) for t in raw}
    add_revisions(report, metas)  # what acquire's updates found revised (yfinance)
    summary = report["summary"]
    for ticker in summary["tickers_dropped"]:
        log.warning("dropped %s: %s", ticker, "; ".join(report["tickers"][ticker]["problems"]))
    if summary["tickers_split_at_gaps"]:
        log.warning(
            "split into segments at gaps longer than validate.max_gap_days=%s: %s",
            params.validate.max_gap_days,
            ", ".join(summary["tickers_split_at_gaps"]),
        )
    if summary["tickers_without_volume"]:
        log.warning(
            "no volume: %s; the volume features will be left out for every ticker "
            "(validate.zero_volume=drop_features)",
            ", ".join(summary["tickers_without_volume"]),
        )
    write_parquet(panel, a.out)
    write_json(report, a.report)
    log.info(
        "validated %d tickers, %d rows -> %s", report["summary"]["tickers_kept"], len(panel), a.out
    )
