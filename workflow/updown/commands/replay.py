"""`updown replay --start DATE --end DATE`: the live loop over history with a simulated clock,
in `replays/<name>/` (updown.live.replay). Rerun the same command to resume a killed replay;
--audit then checks what it did (updown.live.audit)."""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import time
from pathlib import Path

from updown.errors import UpdownError
from updown.live.audit import audit, render
from updown.live.replay import replay, replay_folder

log = logging.getLogger("updown")


def _day(text: str, flag: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError as exc:
        raise UpdownError(f"{flag}: {text!r} is not a date (e.g. 2018-06-01)") from exc


def run(a: argparse.Namespace) -> None:
    if Path(a.params).resolve() != (Path.cwd() / "params.yaml").resolve():
        raise UpdownError("replay: run it from the project folder, with its params.yaml")
    start, end = _day(a.start, "--start"), _day(a.end, "--end")
    if end < start:
        raise UpdownError(f"--end {end} is before --start {start}")
    began = time.perf_counter()
    for n, did in enumerate(replay(Path.cwd(), start, end, a.cores, a.name), 1):
        log.info("step %d: %s", n, ", ".join(f"{k} {v}" for k, v in did.items()))
    log.info("replay done in %.1f s", time.perf_counter() - began)
    if a.audit:
        checks = audit(replay_folder(Path.cwd(), start, end, a.name))
        for line in render(checks):
            print(line)
        if not all(c.ok for c in checks):
            raise UpdownError("replay --audit: a check failed (see above)")
