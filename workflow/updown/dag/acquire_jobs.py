"""Which acquire job fetches which ticker.

One process per ticker costs more in Python start-up than reading a ticker's file, and one process
for all tickers refetches everything when one is added. So tickers are spread over a fixed number
of jobs by a stable hash of their name: adding or removing a ticker changes one job's list, and
only that job reruns; every other job keeps its list whatever else the ticker list holds.
"""

from __future__ import annotations

import zlib


def bucket(ticker: str, buckets: int) -> int:
    """The stable hash bucket (0 .. buckets-1) of `ticker`: the acquire job that fetches it, and
    the feature and label shard that computes it (updown.learn.shards)."""
    # crc32, not hash(): the same on every machine and Python run (no hash randomisation).
    return zlib.crc32(ticker.encode()) % buckets


def acquire_jobs(tickers: list[str] | tuple[str, ...], jobs: int) -> dict[str, tuple[str, ...]]:
    """{job name: its tickers in params order}, for the non-empty ones of `jobs` hash buckets."""
    if jobs < 1:
        raise ValueError(f"data.acquire_jobs must be at least 1, got {jobs}")
    width = len(str(jobs - 1))
    buckets: dict[int, list[str]] = {}
    for ticker in tickers:
        buckets.setdefault(bucket(ticker, jobs), []).append(ticker)
    return {f"acquire_{b:0{width}d}": tuple(buckets[b]) for b in sorted(buckets)}
