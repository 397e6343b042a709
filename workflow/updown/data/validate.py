"""Judge each ticker's raw bars, apply the per-ticker policy, and assemble one price panel.

Hard problems (missing columns, unparseable values, duplicate or unsorted timestamps, too few
rows, a missing raw file) make a ticker fail; the policy (`fail` or `drop`) decides whether that
stops the run. Rows that break OHLC or NaN rules are dropped and counted, or fail the ticker, per
`bad_rows`.

Gaps longer than `max_gap_days` (calendar days, whatever the interval) split a ticker into
segments, numbered in the panel's `segment` column (updown.contract.SEGMENT), so that no label,
return or window downstream spans one (`on_gap: split`), or fail the ticker (`on_gap: fail`).

A ticker without volume (no bar with a positive volume: all 0, or an empty column, as for an
index from some sources) is kept with volume 0 and reported, and the features stage then leaves
out every volume feature for the whole run (`zero_volume: drop_features`); or it is dropped
(`drop`), or it fails (`fail`, a ticker error the policy decides on).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from updown.config import ValidateConfig
from updown.contract import PRICE_COLUMNS, PRICES_COLUMNS, RAW_COLUMNS, SEGMENT
from updown.data.bad_rows import bad_row_mask
from updown.data.sources.normalise import describe_timestamp_problem
from updown.data.validate_clean import clean_bars, clean_tickers
from updown.errors import UpdownError
from updown.panel import gap_segments

_MAX_LISTED = 20


def _listed(items: list[str], most: int = 8) -> str:
    return ", ".join(items[:most]) + (f" and {len(items) - most} more" if len(items) > most else "")


class TickerProblem(Exception):
    """A hard problem with one ticker's data; the policy decides what follows."""


class TickerDropped(TickerProblem):
    """A ticker a setting says to leave out (zero_volume: drop), whatever on_error says."""


@dataclass
class TickerReport:
    ticker: str
    origin: str
    status: str = "ok"
    rows_in: int = 0
    rows_out: int = 0
    bad_rows_dropped: int = 0
    volume: str = "ok"  # ok | zero (no bar with volume > 0) | empty (no volume value at all)
    zero_volume_rows: int = 0
    problems: list[str] = field(default_factory=list)
    gaps: list[dict[str, Any]] = field(default_factory=list)
    jumps: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "origin": self.origin,
            "status": self.status,
            "rows_in": self.rows_in,
            "rows_out": self.rows_out,
            "bad_rows_dropped": self.bad_rows_dropped,
            "volume": self.volume,
            "zero_volume_rows": self.zero_volume_rows,
            "problems": self.problems,
            "n_gaps": len(self.gaps),
            "segments": len(self.gaps) + 1 if self.status == "ok" else 0,
            "gaps": self.gaps[:_MAX_LISTED],
            "n_jumps": len(self.jumps),
            "jumps": self.jumps[:_MAX_LISTED],
        }


def _provider_text(raw: pd.DataFrame) -> str | None:
    """The table as one line of text, if it reads like a provider's message rather than bars."""
    text = (
        " ".join(map(str, raw.columns)) + " " + " ".join(map(str, raw.head(5).to_numpy().ravel()))
    )
    text = " ".join(text.split())
    words = ("error", "message", "{", "invalid", "limit", "<html", "not found", "denied")
    if any(word in text.lower() for word in words):
        return text if len(text) <= 120 else text[:117] + "..."
    return None


def _where(raw: pd.DataFrame, row: int) -> str:
    """A row named by its timestamp when the timestamps parsed, else by its position."""
    ts = raw["timestamp"] if "timestamp" in raw.columns else None
    if ts is not None and isinstance(ts.dtype, pd.DatetimeTZDtype) and pd.notna(ts.iloc[row]):
        return f"on {ts.iloc[row].isoformat()}"
    return f"at row {row}"


def check_structure(raw: pd.DataFrame) -> None:
    """Raise TickerProblem for anything that makes the table unusable as bars."""
    if raw.shape[0] == 0 and raw.shape[1] == 0:
        raise TickerProblem("empty file: no header and no rows")
    missing = [c for c in RAW_COLUMNS if c not in raw.columns]
    if missing:
        message = _provider_text(raw)
        if message is not None and len(missing) == len(RAW_COLUMNS):
            raise TickerProblem(f"not price data but a provider error message: {message!r}")
        note = raw.attrs.get("note")
        found = [str(c) for c in raw.columns]
        raise TickerProblem(
            f"missing columns {missing}"
            + (f" ({note})" if note else f"; found {found} (map them with data.csv.columns)")
        )
    if len(raw) == 0:
        note = raw.attrs.get("note")
        raise TickerProblem(f"no rows{f' ({note})' if note else ''}")
    ts = raw["timestamp"]
    if ts.dtype.kind == "M" and not isinstance(ts.dtype, pd.DatetimeTZDtype):
        raise TickerProblem(
            "timestamps have no time zone (a raw file must hold UTC times; re-run acquire)"
        )
    if not isinstance(ts.dtype, pd.DatetimeTZDtype):
        raise TickerProblem(describe_timestamp_problem(ts, raw.attrs.get("timezone")))
    for col in PRICE_COLUMNS:
        if raw[col].dtype.kind != "f":
            as_num = pd.to_numeric(raw[col], errors="coerce")
            bad = np.flatnonzero((as_num.isna() & raw[col].notna()).to_numpy())
            first = f"{raw[col].iloc[bad[0]]!r} {_where(raw, int(bad[0]))}" if len(bad) else "?"
            raise TickerProblem(f"column {col!r} has non-numeric values (first: {first})")
        if raw[col].isna().all() and col != "volume":  # no volume: validate.zero_volume
            raise TickerProblem(f"column {col!r} is entirely empty (NaN)")
    if ts.isna().any():
        rows = np.flatnonzero(ts.isna().to_numpy())
        raise TickerProblem(f"{len(rows)} timestamps are missing (first at row {rows[0]})")
    dup = ts[ts.duplicated()]
    if len(dup):
        raise TickerProblem(f"{len(dup)} duplicate timestamps (first: {dup.iloc[0].isoformat()})")
    if not ts.is_monotonic_increasing:
        pos = int(np.argmax(ts.diff().dt.total_seconds().to_numpy()[1:] < 0)) + 1
        raise TickerProblem(
            f"timestamps are not in increasing order ({ts.iloc[pos].isoformat()} at row {pos} "
            f"follows {ts.iloc[pos - 1].isoformat()})"
        )


def find_gaps(ts: pd.Series, segment: np.ndarray) -> list[dict[str, Any]]:
    """The gaps between one ticker's `segment`s (from updown.panel.gap_segments), in days."""
    gap = ts.diff()
    hits = np.flatnonzero(np.r_[False, segment[1:] != segment[:-1]])
    return [
        {
            "after": ts.iloc[i - 1].isoformat(),
            "before": ts.iloc[i].isoformat(),
            "days": round(gap.iloc[i].total_seconds() / 86400, 2),
        }
        for i in hits
    ]


def find_jumps(
    bars: pd.DataFrame, max_abs_log_return: float, segment: np.ndarray | None = None
) -> list[dict[str, Any]]:
    """One-bar log returns beyond the bound; none across a gap between `segment`s (a gap is
    reported as one, and no return spans it downstream)."""
    r = np.log(bars["adj_close"]).diff()
    if segment is not None:
        r = r.where(np.r_[True, segment[1:] == segment[:-1]])
    hits = np.flatnonzero((r.abs() > max_abs_log_return).to_numpy())
    return [
        {"at": bars["timestamp"].iloc[i].isoformat(), "log_return": round(float(r.iloc[i]), 4)}
        for i in hits
    ]


def validate_ticker(
    raw: pd.DataFrame, ticker: str, cfg: ValidateConfig, report: TickerReport | None = None
) -> tuple[pd.DataFrame, TickerReport]:
    """Check one ticker's raw bars; return clean bars (with their SEGMENT) and the report, or
    raise TickerProblem. `report`, when given, is filled in as the checks go."""
    if report is None:
        report = TickerReport(ticker=ticker, origin="?")
    report.origin, report.rows_in = str(raw.attrs.get("origin", "?")), len(raw)
    try:
        check_structure(raw)
    except TickerProblem as exc:
        hint = raw.attrs.get("hint")  # the data.csv setting the file seems to need
        if hint:
            raise TickerProblem(f"{exc}; {hint}") from exc
        raise
    bars = raw[list(RAW_COLUMNS)].reset_index(drop=True)
    _check_volume(bars, ticker, cfg, report)
    bad = bad_row_mask(bars)
    n_bad = int(bad.sum())
    if n_bad:
        first = bars.loc[bad, "timestamp"].iloc[0].isoformat()
        what = (
            f"{n_bad} of {len(bars)} rows break OHLC, sign, NaN or finiteness rules "
            f"(first at {first})"
        )
        if cfg.bad_rows == "fail" or n_bad > cfg.max_bad_row_fraction * len(bars):
            raise TickerProblem(
                f"{what}; more than validate.max_bad_row_fraction={cfg.max_bad_row_fraction}"
                if cfg.bad_rows == "drop"
                else what
            )
        report.problems.append(f"dropped {what}")
        bars = bars.loc[~bad].reset_index(drop=True)
        report.bad_rows_dropped = n_bad
    if len(bars) < cfg.min_rows:
        raise TickerProblem(
            f"only {len(bars)} usable rows, fewer than validate.min_rows={cfg.min_rows}"
        )
    _check_volume(bars, ticker, cfg, report)
    segment = gap_segments(
        pd.DataFrame({"ticker": ticker, "timestamp": bars["timestamp"]}),
        pd.Timedelta(days=cfg.max_gap_days),
    )
    report.gaps = find_gaps(bars["timestamp"], segment)
    if report.gaps and cfg.on_gap == "fail":
        first = report.gaps[0]
        raise TickerProblem(
            f"{len(report.gaps)} gap(s) longer than validate.max_gap_days={cfg.max_gap_days} "
            f"(first: {first['days']} days after {first['after']}) [validate.on_gap=fail; "
            "validate.on_gap: split treats the bars between gaps as separate segments]"
        )
    report.jumps = find_jumps(bars, cfg.max_abs_log_return, segment)
    report.rows_out = len(bars)
    bars[SEGMENT] = segment
    return bars, report


def _check_volume(
    bars: pd.DataFrame, ticker: str, cfg: ValidateConfig, report: TickerReport
) -> None:
    """Count zero volumes; apply validate.zero_volume to a ticker with no volume at all, filling
    an empty column with 0 (so the panel's volume is never NaN). Run on the raw bars (an empty
    column would make every row bad) and again without the bad rows (whose volume may have been
    the only one)."""
    volume = bars["volume"]
    report.zero_volume_rows = int((volume == 0).sum())
    if report.volume != "ok":  # judged already (before the bad rows went)
        return
    if bool((volume > 0).any()):  # traded (updown.panel.tickers_without_volume would not name it)
        return
    report.volume = "empty" if volume.isna().all() else "zero"
    what = (
        "column 'volume' is entirely empty (NaN)"
        if report.volume == "empty"
        else "no bar has a volume above 0"
    )
    if cfg.zero_volume == "fail":
        raise TickerProblem(
            f"no volume: {what} [validate.zero_volume=fail; validate.zero_volume: drop_features "
            "keeps it and leaves out the volume features, drop leaves the ticker out]"
        )
    if cfg.zero_volume == "drop":
        raise TickerDropped(f"no volume: {what} [validate.zero_volume=drop]")
    bars["volume"] = volume.fillna(0.0)
    report.problems.append(
        f"no volume: {what}; the volume features are left out for every ticker "
        "[validate.zero_volume=drop_features]"
    )


def _notes(silent: list[str], split: dict[str, int], cfg: ValidateConfig) -> list[str]:
    """For the report (and for anyone wondering where the volume features went)."""
    notes = []
    if silent:
        notes.append(
            f"volume features off for the whole run: {_listed(silent)} "
            f"{'has' if len(silent) == 1 else 'have'} no volume (validate.zero_volume: "
            "drop_features)"
        )
    if split:
        notes.append(
            f"split at gaps longer than validate.max_gap_days={cfg.max_gap_days}, no label or "
            "window spanning one: " + _listed([f"{t} ({n} segments)" for t, n in split.items()])
        )
    return notes


def validate_all(
    raw: dict[str, pd.DataFrame], cfg: ValidateConfig, missing: dict[str, str] | None = None
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Validate every ticker, apply the policy, and return (panel, validation report).

    The panel is long: one row per (ticker, timestamp), sorted by both, with the segment of each
    row within its ticker (updown.contract.SEGMENT). `missing`: tickers without a raw file, whose
    policy is drop, and why (their file, say); they are reported as dropped.
    """
    kept, reports = [], {}
    for ticker, reason in sorted((missing or {}).items()):
        reports[ticker] = TickerReport(
            ticker=ticker, origin=reason, status="dropped", problems=[f"no raw file: {reason}"]
        ).as_dict()
    clean = clean_tickers(raw, cfg)
    for ticker in sorted(raw):
        frame = raw[ticker]
        partial = TickerReport(ticker=ticker, origin="?")
        try:
            if ticker in clean.segments:
                bars, fields = clean_bars(frame, ticker, clean)
                report = TickerReport(ticker=ticker, **fields)
            else:
                bars, report = validate_ticker(frame, ticker, cfg, partial)
        except TickerProblem as exc:
            origin = frame.attrs.get("origin", "?")
            policy = cfg.policy_for(ticker)
            if policy == "fail" and not isinstance(exc, TickerDropped):
                raise UpdownError(
                    f"ticker {ticker} ({origin}): {exc} [validate.on_error=fail; set "
                    f"validate.overrides.{ticker}: drop, or validate.on_error: drop, to leave it out]"
                ) from exc
            report = TickerReport(
                ticker=ticker,
                origin=str(origin),
                status="dropped",
                rows_in=len(frame),
                volume=partial.volume,
                zero_volume_rows=partial.zero_volume_rows,
                problems=[str(exc)],
            )
            reports[ticker] = report.as_dict()
            continue
        bars.insert(0, "ticker", ticker)
        kept.append(bars)
        reports[ticker] = report.as_dict()
    if not kept:
        raise UpdownError(
            f"no ticker passed validation: {sorted(reports)} were all dropped "
            "(see reports/validation.json)"
        )
    panel = pd.concat(kept, ignore_index=True)
    panel["ticker"] = panel["ticker"].astype("str")
    reports = dict(sorted(reports.items()))
    dropped = [t for t, r in reports.items() if r["status"] == "dropped"]
    kept_reports = {t: r for t, r in reports.items() if r["status"] == "ok"}
    silent = [t for t, r in kept_reports.items() if r["volume"] != "ok"]
    split = {t: r["segments"] for t, r in kept_reports.items() if r["segments"] > 1}
    notes = _notes(silent, split, cfg)
    summary = {
        "tickers_in": len(reports),
        "tickers_kept": len(kept),
        "tickers_dropped": dropped,
        "rows": len(panel),
        "bad_rows_dropped": sum(r["bad_rows_dropped"] for r in reports.values()),
        "first": panel["timestamp"].min().isoformat(),
        "last": panel["timestamp"].max().isoformat(),
        # The features stage finds the same tickers in the panel and leaves the volume out.
        "tickers_without_volume": silent,
        "volume_features": "off" if silent else "on",
        "tickers_split_at_gaps": list(split),
        "notes": notes,
    }
    return panel[list(PRICES_COLUMNS)], {"summary": summary, "tickers": reports}
