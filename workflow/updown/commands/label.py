"""`updown label`: label each bar by what follows it."""

from __future__ import annotations

import argparse
import logging

from updown.config import load_params
from updown.errors import UpdownError
from updown.io import read_parquet, write_parquet
from updown.learn.label import make_labels, resolved

log = logging.getLogger("updown")


def run(a: argparse.Namespace) -> None:
    params = load_params(a.params)
    labels = make_labels(read_parquet(a.prices), resolved(params))
    if labels.empty:
        cfg = params.label
        raise UpdownError(
            f"{a.prices}: no rows could be labelled (label.horizon={cfg.horizon}, "
            f"label.threshold={cfg.threshold}): a row needs label.horizon bars after it and, "
            "unless label.dead_zone is keep, a forward return beyond the threshold"
        )
    write_parquet(labels, a.out)
    log.info(
        "labelled %d rows (%s, horizon %d from %s) -> %s",
        len(labels),
        params.label.kind,
        params.label.horizon,
        labels.attrs["entry"],
        a.out,
    )
