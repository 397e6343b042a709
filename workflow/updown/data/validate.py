"""Judge each ticker's raw bars, apply the per-ticker policy, and assemble one price panel.

Hard problems (missing columns, unparseable values, duplicate or unsorted timestamps, too few
rows) make a ticker fail; the policy (`fail` or `drop`) decides whether that stops the run. Rows
that break OHLC or NaN rules are dropped and counted, or fail the ticker, per `bad_rows`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from updown.config import ValidateConfig
from updown.errors import UpdownError
from updown.contract import PANEL_COLUMNS, PRICE_COLUMNS, RAW_COLUMNS
from updown.data.sources.normalise import describe_timestamp_problem

_MAX_LISTED = 20


class TickerProblem(Exception):
    """A hard problem with one ticker's data; the policy decides what follows."""


@dataclass
class TickerReport:
    ticker: str
    origin: str
    status: str = "ok"
    rows_in: int = 0
    rows_out: int = 0
    bad_rows_dropped: int = 0
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
            "problems": self.problems,
            "n_gaps": len(self.gaps),
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
        if raw[col].isna().all():
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


def bad_row_mask(bars: pd.DataFrame) -> pd.Series:
    """Rows that break high >= max(open, close) >= min(open, close) >= low > 0, volume >= 0, or
    hold NaN or an infinite value."""
    import pandera.pandas as pa

    # pandera's comparisons let +inf through (inf >= inf), and inf poisons every return after it.
    infinite = pd.Series(~np.isfinite(bars[list(PRICE_COLUMNS)].to_numpy()).all(axis=1), index=bars.index)
    infinite &= bars[list(PRICE_COLUMNS)].notna().all(axis=1)

    ohlc_ok = pa.Check(
        lambda df: (
            (df["high"] >= df[["open", "close"]].max(axis=1))
            & (df[["open", "close"]].min(axis=1) >= df["low"])
            & (df["low"] > 0)
        ),
        error="high >= max(open, close) >= min(open, close) >= low > 0",
    )
    schema = pa.DataFrameSchema(
        {
            "open": pa.Column(float, nullable=False),
            "high": pa.Column(float, nullable=False),
            "low": pa.Column(float, nullable=False),
            "close": pa.Column(float, nullable=False),
            "adj_close": pa.Column(float, pa.Check.gt(0), nullable=False),
            "volume": pa.Column(float, pa.Check.ge(0), nullable=False),
        },
        checks=[ohlc_ok],
    )
    try:
        schema.validate(bars, lazy=True)
    except pa.errors.SchemaErrors as exc:
        cases = exc.failure_cases
        index = pd.to_numeric(cases["index"], errors="coerce").dropna().astype(int)
        mask = pd.Series(False, index=bars.index)
        mask.loc[mask.index.intersection(index.unique())] = True
        return mask | infinite
    return infinite


def find_gaps(ts: pd.Series, max_gap_days: float) -> list[dict[str, Any]]:
    gap = ts.diff()
    hits = np.flatnonzero((gap > pd.Timedelta(days=max_gap_days)).to_numpy())
    return [
        {
            "after": ts.iloc[i - 1].isoformat(),
            "before": ts.iloc[i].isoformat(),
            "days": round(gap.iloc[i].total_seconds() / 86400, 2),
        }
        for i in hits
    ]


def find_jumps(bars: pd.DataFrame, max_abs_log_return: float) -> list[dict[str, Any]]:
    r = np.log(bars["adj_close"]).diff()
    hits = np.flatnonzero((r.abs() > max_abs_log_return).to_numpy())
    return [
        {"at": bars["timestamp"].iloc[i].isoformat(), "log_return": round(float(r.iloc[i]), 4)}
        for i in hits
    ]


def validate_ticker(
    raw: pd.DataFrame, ticker: str, cfg: ValidateConfig
) -> tuple[pd.DataFrame, TickerReport]:
    """Check one ticker's raw bars; return clean bars and the report, or raise TickerProblem."""
    report = TickerReport(ticker=ticker, origin=str(raw.attrs.get("origin", "?")), rows_in=len(raw))
    check_structure(raw)
    bars = raw[list(RAW_COLUMNS)].reset_index(drop=True)
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
    report.gaps = find_gaps(bars["timestamp"], cfg.max_gap_days)
    report.jumps = find_jumps(bars, cfg.max_abs_log_return)
    report.rows_out = len(bars)
    return bars, report


def validate_all(
    raw: dict[str, pd.DataFrame], cfg: ValidateConfig
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Validate every ticker, apply the policy, and return (panel, validation report).

    The panel is long: one row per (ticker, timestamp), sorted by both.
    """
    kept, reports = [], {}
    for ticker in sorted(raw):
        frame = raw[ticker]
        try:
            bars, report = validate_ticker(frame, ticker, cfg)
        except TickerProblem as exc:
            origin = frame.attrs.get("origin", "?")
            policy = cfg.policy_for(ticker)
            if policy == "fail":
                raise UpdownError(
                    f"ticker {ticker} ({origin}): {exc} [validate.on_error=fail; set "
                    f"validate.overrides.{ticker}: drop, or validate.on_error: drop, to leave it out]"
                ) from exc
            report = TickerReport(
                ticker=ticker,
                origin=str(origin),
                status="dropped",
                rows_in=len(frame),
                problems=[str(exc)],
            )
            reports[ticker] = report.as_dict()
            continue
        bars.insert(0, "ticker", ticker)
        kept.append(bars)
        reports[ticker] = report.as_dict()
    if not kept:
        raise UpdownError(
            f"no ticker passed validation: {sorted(raw)} were all dropped "
            "(see reports/validation.json)"
        )
    panel = pd.concat(kept, ignore_index=True)
    panel["ticker"] = panel["ticker"].astype("str")
    dropped = sorted(t for t, r in reports.items() if r["status"] == "dropped")
    summary = {
        "tickers_in": len(raw),
        "tickers_kept": len(kept),
        "tickers_dropped": dropped,
        "rows": len(panel),
        "bad_rows_dropped": sum(r["bad_rows_dropped"] for r in reports.values()),
        "first": panel["timestamp"].min().isoformat(),
        "last": panel["timestamp"].max().isoformat(),
    }
    return panel[list(PANEL_COLUMNS)], {"summary": summary, "tickers": reports}
