"""`updown label`: label each bar by what follows it.

With `--shard I/N` only the tickers of shard I (updown.learn.shards); with `--gather SHARD...`
the shards' labels in panel order (the excess return taken over every ticker): the same file
as one job.
"""

from __future__ import annotations

import argparse
import logging

from updown.config import load_params
from updown.errors import UpdownError
from updown.io import read_parquet, write_parquet
from updown.learn.label import make_labels, resolved
from updown.learn.label_shards import label_gather, label_shard
from updown.learn.shards import parse_shard, read_shard

log = logging.getLogger("updown")


def run(a: argparse.Namespace) -> None:
    params = load_params(a.params)
    cfg = resolved(params)
    if a.shard:
        shard, shards = parse_shard(a.shard)
        part = label_shard(read_shard(a.prices, shard, shards), cfg)
        write_parquet(part, a.out)
        log.info("shard %s: %d rows -> %s", a.shard, len(part), a.out)
        return
    if a.gather:
        labels = label_gather((read_parquet(path) for path in a.gather), cfg)
    else:
        labels = make_labels(read_parquet(a.prices), cfg)
    if labels.empty:
        raise UpdownError(
            f"{a.prices}: no rows could be labelled (label.horizon={cfg.horizon}, "
            f"label.threshold={cfg.threshold}): a row needs label.horizon bars after it and, "
            "unless label.dead_zone is keep, a forward return beyond the threshold"
        )
    write_parquet(labels, a.out)
    log.info(
        "labelled %d rows (%s, horizon %d from %s) -> %s",
        len(labels),
        cfg.kind,
        cfg.horizon,
        labels.attrs["entry"],
        a.out,
    )
