"""Progress of a long loop (LightGBM's boosting rounds): a bar on a terminal only, and in the log
one line when the loop starts and one summary line when it ends, whatever the number of steps.

A bar redrawn on a file or a pipe (Snakemake's output, `make run > run.log 2>&1`, a CI log) is
one record per redraw; a log must stay readable at 10 000 rounds.
"""

from __future__ import annotations

import logging
import sys
import time
from types import TracebackType
from typing import Any

log = logging.getLogger("updown")


def on_terminal() -> bool:
    """Whether stderr is a terminal a bar can redraw in place."""
    stream = sys.stderr
    try:
        return stream is not None and stream.isatty()
    except (AttributeError, ValueError):  # replaced by an object without isatty, or closed
        return False


class Progress:
    """`with Progress("boosting", total=1000, unit="round") as p: ... p.update()`; set
    `p.summary` before the block ends to add what the loop found to the closing line."""

    def __init__(self, what: str, total: int, unit: str) -> None:
        self.what, self.total, self.unit = what, total, unit
        self.done = 0
        self.summary = ""
        self._bar: Any = None
        self._start = 0.0

    def __enter__(self) -> Progress:
        from tqdm import tqdm

        log.info("%s: up to %d %ss", self.what, self.total, self.unit)
        self._bar = tqdm(
            total=self.total,
            desc=self.what,
            unit=self.unit,
            leave=False,
            disable=not on_terminal(),
        )
        self._start = time.perf_counter()
        return self

    def update(self, steps: int = 1) -> None:
        self.done += steps
        self._bar.update(steps)

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._bar.close()
        if kind is None:
            seconds = time.perf_counter() - self._start
            tail = f"; {self.summary}" if self.summary else ""
            log.info("%s: %d %ss in %.1f s%s", self.what, self.done, self.unit, seconds, tail)
