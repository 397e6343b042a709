"""The dates each block of each fold covers (train, validation, test), from the rows the split
assigned to it: what the report's header and the trial count's "same test block" rest on.

The dates are those of the first and last row actually in a block (after purge and embargo),
as ISO 8601 strings, so metrics.json holds them as text (MLflow logs only its numbers).
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from updown.learn.split import BLOCKS


def block_periods(rows: pd.DataFrame, blocks: list[pd.Series]) -> list[dict[str, Any]]:
    """One record per fold, oldest first: {"train": [first, last], "valid": ..., "test": ...},
    each the ISO timestamps of the block's first and last row (None for an empty block).
    `rows` has a `timestamp` column aligned with every Series of `blocks`."""
    ts = pd.DatetimeIndex(rows["timestamp"])
    out = []
    for fold in blocks:
        record: dict[str, Any] = {}
        for name in BLOCKS:
            inside = ts[(fold == name).to_numpy()]  # compared in Arrow, not a string per row
            record[name] = (
                [inside.min().isoformat(), inside.max().isoformat()] if len(inside) else None
            )
        out.append(record)
    return out


def whole_test_period(periods: list[dict[str, Any]]) -> tuple[str, str] | None:
    """The whole test period over every fold: (first, last) ISO timestamps; None if unknown."""
    tests = [p["test"] for p in periods if isinstance(p, dict) and p.get("test")]
    if not tests:
        return None
    return min(t[0] for t in tests), max(t[1] for t in tests)
