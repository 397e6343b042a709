"""What validate left out, for the report: the tickers it dropped and why, the problems it fixed
on the tickers it kept, and any notes in its summary (reports/validation.json). Read tolerantly:
a key that is absent, or of an unexpected shape, just says nothing."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class DataNotes:
    tickers_in: int | None
    dropped: tuple[tuple[str, tuple[str, ...]], ...]  # (ticker, why), sorted by ticker
    fixed: tuple[tuple[str, tuple[str, ...]], ...]  # kept tickers with problems it dealt with
    notes: tuple[str, ...]  # the summary's notes (dropped features, gaps, ...)


def _texts(value: Any) -> tuple[str, ...]:
    """A note or a list of notes as strings; a mapping as "key: value" lines."""
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,) if value.strip() else ()
    if isinstance(value, Mapping):
        return tuple(f"{k}: {', '.join(_texts(v)) or v}" for k, v in value.items())
    if isinstance(value, list | tuple):
        return tuple(t for v in value for t in _texts(v))
    return (str(value),)


def data_notes(report: Any) -> DataNotes:
    """The notes of a validation report (`{"summary": ..., "tickers": {T: {...}}}`)."""
    report = report if isinstance(report, Mapping) else {}
    summary = report.get("summary")
    summary = summary if isinstance(summary, Mapping) else {}
    tickers = report.get("tickers")
    tickers = tickers if isinstance(tickers, Mapping) else {}
    listed = summary.get("tickers_dropped")
    names = set(_texts(listed)) | {
        str(t)
        for t, r in tickers.items()
        if isinstance(r, Mapping) and r.get("status") == "dropped"
    }

    def problems(ticker: str) -> tuple[str, ...]:
        entry = tickers.get(ticker)
        return _texts(entry.get("problems")) if isinstance(entry, Mapping) else ()

    kept = sorted(str(t) for t in tickers if str(t) not in names)
    n_in = summary.get("tickers_in")
    return DataNotes(
        tickers_in=n_in if isinstance(n_in, int) else (len(tickers) or None),
        dropped=tuple((t, problems(t)) for t in sorted(names)),
        fixed=tuple((t, problems(t)) for t in kept if problems(t)),
        notes=_texts(summary.get("notes")),
    )


def dropped_sentence(d: DataNotes) -> str:
    """ "Validation dropped 1 of 3 tickers:" (why is listed beside each), or that it kept all."""
    n, n_in = len(d.dropped), d.tickers_in
    if not n:
        if not n_in:
            return "Validation dropped no ticker."
        return (
            "Validation kept the one ticker."
            if n_in == 1
            else f"Validation kept all {n_in} tickers."
        )
    of = f" of {n_in}" if n_in else ""
    return f"Validation dropped {n}{of} ticker{'s' if (n_in or n) != 1 else ''}:"
