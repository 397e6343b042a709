"""What a raw snapshot records about itself, in its Parquet metadata (key `updown.snapshot`).

`data/raw/<source>/<ticker>.parquet` carries, beside its bars, the settings it was fetched
with (`request`: source, interval, start, auto_adjust; an update appends only to a snapshot of
the same request) and every revision of history an update found (`revisions`, oldest first; see
updown.data.incremental). Kept inside the file, the record is written in the same atomic rename
as the bars, DVC versions it with them, and no second output can drift from the first. Nothing
in it depends on the wall clock, so the same bars give the same bytes.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from updown.config import DataConfig

SNAPSHOT_KEY = "updown.snapshot"
_MAX_NOTED = 5  # tickers named in the report's note; the rest are counted


def request_key(cfg: DataConfig) -> dict[str, Any]:
    """The settings that decide which bars a full fetch would return, apart from the end."""
    return {
        "source": cfg.source,
        "interval": cfg.interval,
        "start": cfg.start.isoformat(),
        "auto_adjust": cfg.yfinance.auto_adjust,
    }


def new_meta(cfg: DataConfig, revisions: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {"request": request_key(cfg), "revisions": list(revisions or [])}


def encode(meta: dict[str, Any]) -> dict[str, str]:
    """The Parquet metadata entry for `meta` (deterministic text)."""
    return {SNAPSHOT_KEY: json.dumps(meta, sort_keys=True, separators=(",", ":"))}


def decode(text: str | None) -> dict[str, Any] | None:
    """The snapshot record stored as `text`; None when absent or unreadable (a file written
    before snapshots recorded themselves, or by another tool): such a file is refetched whole."""
    if not text:
        return None
    try:
        meta = json.loads(text)
    except json.JSONDecodeError:
        return None
    if not isinstance(meta, dict) or not isinstance(meta.get("revisions"), list):
        return None
    return meta


def _summary(ticker: str, revision: dict[str, Any]) -> str:
    ratio = revision.get("ratios", {}).get("adj_close")
    by = f" x{ratio:.6g}" if isinstance(ratio, (int, float)) else ""
    since = str(revision.get("from_bar") or revision.get("last_stored_bar", "?"))[:10]
    return f"{ticker} ({revision.get('kind', '?')}{by} from {since})"


def add_revisions(report: dict[str, Any], metas: dict[str, dict[str, Any] | None]) -> None:
    """Put each ticker's recorded revisions into the validation report (in place): under
    tickers.<ticker>.revisions, summary.tickers_revised, and one line in summary.notes."""
    revised = []
    for ticker, entry in report["tickers"].items():
        meta = metas.get(ticker) or {}
        entry["revisions"] = list(meta.get("revisions", []))
        if entry["revisions"]:
            revised.append(ticker)
    summary = report["summary"]
    summary["tickers_revised"] = revised
    if revised:
        named = [_summary(t, report["tickers"][t]["revisions"][-1]) for t in revised[:_MAX_NOTED]]
        more = f" and {len(revised) - _MAX_NOTED} more" if len(revised) > _MAX_NOTED else ""
        summary["notes"] = [
            *summary.get("notes", []),
            "history revised by the source since an earlier fetch, so refetched whole: "
            + ", ".join(named)
            + more
            + " (see tickers.<ticker>.revisions)",
        ]
