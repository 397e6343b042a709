"""`updown params --overlay X --out Y`: params.yaml (--params) with X's keys laid over it."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from updown.io import write_text
from updown.params_overlay import render

log = logging.getLogger("updown")


def run(a: argparse.Namespace) -> None:
    text = render(Path(a.params), Path(a.overlay))
    out = Path(a.out)
    # Unchanged, the file keeps its time stamp: nothing downstream looks new.
    if out.is_file() and out.read_text() == text:
        log.info("%s is current", out)
        return
    write_text(text, out)
    log.info("wrote %s", out)
