"""Incremental updates of a raw snapshot: fetch only what is new, and check the overlap.

A rerun with a later data.end (or `end: null`) asks the source for the bars from the
`data.overlap_bars`-th last stored bar on, not for the whole history. The stored bars of that
overlap, except the newest, must come back unchanged (prices within PRICE_RTOL, volume within
VOLUME_RTOL): then the new bars are appended and every older stored bar is kept as it is. The
newest stored bar is replaced, not compared: it may have been fetched before its close.

If the overlap differs (a split or dividend re-adjusted history, or bars were changed, added or
removed) the ticker is fetched whole again, and the revision is recorded in the snapshot's
metadata (updown.data.snapshot): its kind, the first and last bar that changed, the ratio new/old
per column. validate copies it into reports/validation.json.

Only the yfinance source updates this way: csv and sample are local files, read whole (and cut
at data.end or the clock) on every run, which is exact and cheap.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from updown.data.snapshot import new_meta, request_key

if TYPE_CHECKING:
    from updown.config import DataConfig

    Fetch = Callable[[list[str], DataConfig], dict[str, pd.DataFrame]]

# Yahoo sends float32 prices (about 7 significant digits) and sends the same ones every time; a
# dividend re-adjusts adj_close by 1e-4 or more, a split by a factor.
PRICE_RTOL = 1e-6
# Yahoo corrects a recent day's volume by a few late trades: that alone is not a revision.
VOLUME_RTOL = 5e-3
_EXCHANGE_ZONE = "America/New_York"  # Yahoo's daily bars are New York dates
_COMPARED = ("open", "high", "low", "close", "adj_close", "volume")


@dataclass(frozen=True)
class Snapshot:
    """A ticker's stored raw bars and their record (None: written without one)."""

    bars: pd.DataFrame
    meta: dict[str, Any] | None


@dataclass(frozen=True)
class Plan:
    """How to bring one ticker up to date: `start` None means fetch it whole."""

    start: dt.date | None
    since: pd.Timestamp | None  # the first stored bar of the overlap
    why: str


@dataclass(frozen=True)
class Update:
    """A ticker's new snapshot: bars, record, and what was done (full | append | refetch)."""

    bars: pd.DataFrame
    meta: dict[str, Any]
    mode: str
    note: str


def latest_allowed(cfg: DataConfig, until: pd.Timestamp | None) -> pd.Timestamp | None:
    """The last instant a bar may be stamped at: the clock, or the end of data.end's day."""
    if until is not None:
        return until
    if cfg.end is None:
        return None
    next_day = pd.Timestamp(cfg.end + dt.timedelta(days=1), tz=_EXCHANGE_ZONE)
    return next_day.tz_convert("UTC") - pd.Timedelta(1, "ns")


def plan(snapshot: Snapshot | None, cfg: DataConfig, latest: pd.Timestamp | None) -> Plan:
    """Append to `snapshot` when it was fetched with the same settings and ends before
    `latest`; otherwise fetch whole (and say why)."""
    if snapshot is None:
        return Plan(None, None, "no snapshot yet")
    if snapshot.meta is None:
        return Plan(None, None, "the snapshot has no record of how it was fetched")
    if snapshot.meta.get("request") != request_key(cfg):
        return Plan(None, None, "the snapshot was fetched with other data settings")
    ts = snapshot.bars.get("timestamp")
    if ts is None or not isinstance(ts.dtype, pd.DatetimeTZDtype) or ts.empty or ts.isna().any():
        return Plan(None, None, "the snapshot holds no readable bars")
    if not (ts.is_monotonic_increasing and ts.is_unique):
        return Plan(None, None, "the snapshot's bars are out of order")
    if latest is not None and ts.iloc[-1] > latest:
        return Plan(None, None, f"data.end is before the last stored bar ({ts.iloc[-1]})")
    since = pd.Timestamp(ts.iloc[max(0, len(ts) - cfg.overlap_bars)])
    start = since.tz_convert(_EXCHANGE_ZONE).date()
    return Plan(max(start, cfg.start), since, f"bars from {start} on")


def _changed(old: pd.Series, new: pd.Series, column: str) -> np.ndarray:
    a, b = old.to_numpy(), new.to_numpy()
    if a.dtype.kind not in "fiu" or b.dtype.kind not in "fiu":
        return np.asarray(old.astype("str").to_numpy() != new.astype("str").to_numpy())
    rtol = VOLUME_RTOL if column == "volume" else PRICE_RTOL
    return np.asarray(~np.isclose(b, a, rtol=rtol, atol=0.0, equal_nan=True))


def changes(old: pd.DataFrame, new: pd.DataFrame) -> dict[str, np.ndarray]:
    """Per compared column, which rows differ between two frames of the same bars."""
    cols = [c for c in _COMPARED if c in old.columns and c in new.columns]
    return {c: _changed(old[c], new[c], c) for c in cols}


def overlap_revision(stored: pd.DataFrame, fresh: pd.DataFrame, since: pd.Timestamp) -> str | None:
    """Why `fresh` shows that the stored history from `since` on was revised; None if not."""
    fts = fresh.get("timestamp")
    if fts is None or not isinstance(fts.dtype, pd.DatetimeTZDtype):
        return "the answer's timestamps are not dates"
    if list(fresh.columns) != list(stored.columns):
        return f"the answer's columns {list(fresh.columns)} differ from the stored ones"
    last = stored["timestamp"].iloc[-1]
    if not (fts == last).any():
        return f"the newest stored bar ({last}) is missing from the answer"
    old = stored[(stored["timestamp"] >= since) & (stored["timestamp"] < last)]
    new = fresh[(fts >= since) & (fts < last)]
    if old["timestamp"].tolist() != new["timestamp"].tolist():
        return f"the bars between {since} and {last} differ in number or time"
    for col, diff in changes(old.reset_index(drop=True), new.reset_index(drop=True)).items():
        if diff.any():
            row = int(diff.argmax())
            return (
                f"{col} of {old['timestamp'].iloc[row]} changed from {old[col].iloc[row]} to "
                f"{new[col].iloc[row]}"
            )
    return None


def append(stored: pd.DataFrame, fresh: pd.DataFrame, origin: str | None = None) -> pd.DataFrame:
    """The stored bars before the newest, then the answer's bars from the newest stored on;
    `attrs` the answer's, with `origin` (if given) naming where the whole snapshot came from."""
    last = stored["timestamp"].iloc[-1]
    tail = fresh[fresh["timestamp"] >= last]
    # In the answer's dtypes: Parquet keeps second timestamps as milliseconds, so the stored
    # ones read back in another unit than the source's; the file then says which.
    head = stored[stored["timestamp"] < last].astype(dict(tail.dtypes))
    out = pd.concat([head, tail], ignore_index=True)
    out.attrs = {**fresh.attrs, **({"origin": origin} if origin is not None else {})}
    return out


def _ratio(old: pd.Series, new: pd.Series) -> float | None:
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = new.to_numpy(dtype="float64") / old.to_numpy(dtype="float64")
    ratio = ratio[np.isfinite(ratio)]
    return round(float(np.median(ratio)), 8) if ratio.size else None


def _kind(ratios: dict[str, float | None], columns: list[str]) -> str:
    close, volume, adj = ratios.get("close"), ratios.get("volume"), ratios.get("adj_close")
    if close and volume and abs(close * volume - 1) < 0.01 and abs(close - 1) > 0.01:
        return "split"  # prices divided, volume multiplied, by the same factor
    prices = [ratios.get(c) for c in columns]
    if adj and "volume" not in columns and all(r and abs(r / adj - 1) < 1e-3 for r in prices):
        return "dividend"  # adj_close (or, auto-adjusted, every price) re-scaled alike
    return "bars"


def describe_revision(
    stored: pd.DataFrame, full: pd.DataFrame, found: str, update_to: str
) -> dict[str, Any]:
    """How the refetched history `full` differs from the `stored` one: kind (split | dividend |
    bars), the first and last changed bar, counts, and the median ratio new/old per changed
    column over the changed bars. `found` is what the overlap showed, `update_to` the end the
    update asked for."""
    old, new = stored.set_index("timestamp"), full.set_index("timestamp")
    common = old.index.intersection(new.index)
    old, new = old.loc[common].reset_index(), new.loc[common].reset_index()
    diffs = changes(old, new)
    any_changed = np.zeros(len(common), dtype=bool)
    for diff in diffs.values():
        any_changed |= diff
    columns = [c for c, diff in diffs.items() if diff.any()]
    ratios = {c: _ratio(old.loc[diffs[c], c], new.loc[diffs[c], c]) for c in columns}
    last_stored = stored["timestamp"].iloc[-1]
    changed_at = old.loc[any_changed, "timestamp"]
    in_range = full[full["timestamp"] <= last_stored]
    return {
        "update_to": update_to,
        "last_stored_bar": last_stored.isoformat(),
        "found": found,
        "kind": _kind(ratios, columns),
        "from_bar": changed_at.iloc[0].isoformat() if len(changed_at) else None,
        "to_bar": changed_at.iloc[-1].isoformat() if len(changed_at) else None,
        "bars_compared": len(common),
        "bars_changed": int(any_changed.sum()),
        "bars_added": int((~in_range["timestamp"].isin(stored["timestamp"])).sum()),
        "bars_removed": int((~stored["timestamp"].isin(full["timestamp"])).sum()),
        "columns": columns,
        "ratios": ratios,
    }


def _fetch_grouped(
    fetch: Fetch, cfg: DataConfig, plans: dict[str, Plan]
) -> dict[str, pd.DataFrame]:
    """One fetch per distinct start (usually one: tickers updated together end together)."""
    groups: dict[dt.date | None, list[str]] = {}
    for ticker, p in plans.items():
        groups.setdefault(p.start, []).append(ticker)
    answers: dict[str, pd.DataFrame] = {}
    for start, tickers in sorted(groups.items(), key=lambda g: (g[0] is not None, str(g[0]))):
        answers.update(
            fetch(tickers, cfg if start is None else dataclasses.replace(cfg, start=start))
        )
    return answers


def update(
    tickers: list[str],
    snapshots: dict[str, Snapshot | None],
    cfg: DataConfig,
    fetch: Fetch,
    until: pd.Timestamp | None = None,
) -> dict[str, Update]:
    """Bring every ticker's snapshot up to data.end (or the clock `until`, or the newest bar),
    appending where possible and refetching whole where history was revised. Everything is
    fetched before anything is returned, so a failed fetch leaves every snapshot as it was."""
    plans = {t: plan(snapshots.get(t), cfg, latest_allowed(cfg, until)) for t in tickers}
    answers = _fetch_grouped(fetch, cfg, plans)
    update_to = until.isoformat() if until is not None else str(cfg.end or "newest")
    out: dict[str, Update] = {}
    revised: dict[str, str] = {}
    for ticker, p in plans.items():
        snap, fresh = snapshots.get(ticker), answers[ticker]
        if p.start is None or snap is None or p.since is None:
            out[ticker] = Update(fresh, new_meta(cfg), "full", f"fetched whole: {p.why}")
            continue
        found = overlap_revision(snap.bars, fresh, p.since)
        if found is not None:
            revised[ticker] = found
            continue
        # The origin a whole fetch would give (the request's start is data.start), so that an
        # append writes the same bytes as one fetch of the whole range.
        origin = str(fresh.attrs.get("origin", "")).replace(f" {p.start}..", f" {cfg.start}..")
        bars = append(snap.bars, fresh, origin or None)
        ts = snap.bars["timestamp"]
        matched = int(((ts >= p.since) & (ts < ts.iloc[-1])).sum())
        note = f"{len(bars) - len(ts)} new bars appended ({p.why}; {matched} stored bars matched)"
        meta = new_meta(cfg, (snap.meta or {}).get("revisions"))
        out[ticker] = Update(bars, meta, "append", note)
    if revised:
        whole = fetch(list(revised), cfg)
        for ticker, found in revised.items():
            snap = snapshots[ticker]
            assert snap is not None  # a revision is found only on a stored snapshot
            record = describe_revision(snap.bars, whole[ticker], found, update_to)
            history = [*(snap.meta or {}).get("revisions", []), record]
            note = f"history revised ({record['kind']}: {found}); fetched whole"
            out[ticker] = Update(whole[ticker], new_meta(cfg, history), "refetch", note)
    return {t: out[t] for t in tickers}
