"""An append-only table kept as a folder of Parquet parts: the storage of the journal and of
the alias history.

Each append writes one new part file atomically (a hidden temporary, flushed, then renamed:
updown.io.write_parquet) under an exclusive lock, after dropping the rows whose key is already
in the table. So a rerun of the same step adds nothing, no part is ever rewritten, and a writer
killed at any moment leaves the table as it was before the append or as it is after it: a part
is either there whole under its final name or not at all (a left-over temporary is hidden and
never read). Parts are named `<sequence>-<digest>.parquet`; reading them in name order gives the
rows in the order they were appended.
"""

from __future__ import annotations

import functools
import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from updown.errors import UpdownError
from updown.io import exclusive_lock, read_parquet, write_parquet

PART = re.compile(r"^(\d{8})-([0-9a-f]{12})\.parquet$")
LOCK = ".lock"


@functools.lru_cache(maxsize=8192)
def _part(path: str, columns: tuple[str, ...]) -> pd.DataFrame:
    # A part is never rewritten and its name holds its content's digest: a loop that reads
    # the table at every step reads each part once.
    return read_parquet(path, columns=list(columns))


@dataclass(frozen=True)
class Ledger:
    """An append-only table in `folder`; `key`: the columns that identify a row; `columns`: the
    table's columns, in order, with their pandas dtypes."""

    folder: Path
    key: tuple[str, ...]
    columns: dict[str, str]

    def parts(self) -> list[Path]:
        """The complete parts, in the order they were appended."""
        if not self.folder.is_dir():
            return []
        return sorted(p for p in self.folder.iterdir() if PART.match(p.name))

    def empty(self) -> pd.DataFrame:
        return pd.DataFrame({c: pd.Series(dtype=t) for c, t in self.columns.items()})

    def read(self, columns: list[str] | None = None) -> pd.DataFrame:
        """Every row, in append order (`columns`: only these)."""
        wanted = columns or list(self.columns)
        frames = [_part(str(p), tuple(wanted)) for p in self.parts()]
        if not frames:
            return self.empty()[wanted]
        return pd.concat(frames, ignore_index=True)

    def conform(self, rows: pd.DataFrame) -> pd.DataFrame:
        """`rows` with exactly the table's columns and dtypes; refuses a missing column."""
        missing = [c for c in self.columns if c not in rows.columns]
        if missing:
            raise UpdownError(f"{self.folder}: rows lack column(s) {', '.join(missing)}")
        return rows[list(self.columns)].astype(self.columns).reset_index(drop=True)

    def unseen(self, rows: pd.DataFrame, known: pd.DataFrame) -> np.ndarray:
        """Which of `rows` have a key not among `known`'s (exact comparison of the values)."""
        key = list(self.key)
        seen = known[key].astype({k: self.columns[k] for k in key}).drop_duplicates()
        joined = rows[key].merge(seen, on=key, how="left", indicator=True)
        return (joined["_merge"] == "left_only").to_numpy()

    def append(self, rows: pd.DataFrame) -> pd.DataFrame:
        """Append the rows whose key is not in the table yet (the first of repeated keys);
        return the rows actually added."""
        rows = self.conform(rows).drop_duplicates(list(self.key)).reset_index(drop=True)
        self.folder.mkdir(parents=True, exist_ok=True)
        with exclusive_lock(self.folder / LOCK):
            # Under the lock no append is under way: a hidden temporary is a killed writer's.
            for stale in self.folder.glob(".*.tmp"):
                stale.unlink(missing_ok=True)
            known = self.read(list(self.key))
            if len(known):
                rows = rows[self.unseen(rows, known)].reset_index(drop=True)
            if rows.empty:
                return rows
            parts = self.parts()
            sequence = int(PART.match(parts[-1].name).group(1)) + 1 if parts else 1  # type: ignore[union-attr]
            digest = hashlib.sha256(
                pd.util.hash_pandas_object(rows, index=False).to_numpy().tobytes()
            ).hexdigest()[:12]
            write_parquet(rows, self.folder / f"{sequence:08d}-{digest}.parquet")
        return rows
