"""Helpers for the hostile-case tests: run the real `updown` CLI, check the one-line error
contract, and fingerprint outputs so a test can prove they did not change."""

from __future__ import annotations

import hashlib
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml
from conftest import project_env
from updown.dag.stage_path import PATH_FALLBACK

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
UPDOWN = str(BIN / "updown")


def updown(
    *args: str, cwd: Path, extra_env: dict[str, str] | None = None, timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    """Run the installed `updown` entry point, as Snakemake and DVC do."""
    return subprocess.run(
        [UPDOWN, *args],
        cwd=cwd,
        env=project_env(extra_env),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def stage_command(project: Path, stage: str, params: Path | None = None) -> list[str]:
    """The command DVC runs for `stage` (rendered from the Snakefile), as an argument list for
    `updown`, optionally with another params file and without the log file."""
    text = yaml.safe_load((project / "dvc.yaml").read_text())["stages"][stage]["cmd"]
    source = yaml.safe_load((params or project / "params.yaml").read_text())["data"]["source"]
    cmd = shlex.split(text.replace("${data.source}", source))
    cmd = cmd[1:] if cmd[0] == PATH_FALLBACK.replace('"', "") else cmd  # the venv on PATH
    assert cmd[0] == "updown", cmd
    args = cmd[1:]
    if "--log" in args:
        at = args.index("--log")
        del args[at : at + 2]
    if params is not None:
        args[args.index("--params") + 1] = str(params)
    return args


def error_line(done: subprocess.CompletedProcess[str], stage: str, *fragments: str) -> str:
    """Assert the CLI contract for expected bad input and return the error line: exit code 1,
    no traceback, exactly one `updown <stage>: error: ...` line, holding every fragment."""
    out = f"{done.stdout}\n{done.stderr}"
    assert done.returncode == 1, f"exit {done.returncode}\n{out[-3000:]}"
    assert "Traceback" not in out, out[-3000:]
    lines = [
        line for line in done.stderr.splitlines() if line.startswith(f"updown {stage}: error: ")
    ]
    assert len(lines) == 1, out[-3000:]
    for fragment in fragments:
        assert fragment in lines[0], f"{fragment!r} not in {lines[0]!r}"
    return lines[0]


def fingerprint(root: Path, *folders: str) -> dict[str, str]:
    """sha256 of every file under `folders` of `root` (relative path -> digest)."""
    out = {}
    for folder in folders:
        base = root / folder
        if not base.exists():
            continue
        for path in sorted(base.rglob("*")):
            if path.is_file():
                out[str(path.relative_to(root))] = hashlib.sha256(path.read_bytes()).hexdigest()
    return out


def write_params(path: Path, changes: dict[str, Any], base: Path = REPO / "params.yaml") -> Path:
    """A params file: the project's, with dotted keys set (or removed with value ...)."""
    params = yaml.safe_load(base.read_text())
    for dotted, value in changes.items():
        node = params
        *parents, last = dotted.split(".")
        for key in parents:
            node = node[key]
        if value is ...:
            del node[last]
        else:
            node[last] = value
    path.write_text(yaml.safe_dump(params, sort_keys=False))
    return path


def daily_bars(n: int = 400, start: str = "2001-01-02", seed: int = 7) -> pd.DataFrame:
    """A plausible business-day OHLCV table in the S&P folder's layout (naive dates)."""
    rng = np.random.default_rng(seed)
    days = pd.bdate_range(start, periods=n)
    close = 50 * np.exp(np.cumsum(rng.normal(0, 0.01, n)))
    open_ = close * np.exp(rng.normal(0, 0.004, n))
    high = np.maximum(open_, close) * (1 + rng.uniform(0, 0.01, n))
    low = np.minimum(open_, close) * (1 - rng.uniform(0, 0.01, n))
    return pd.DataFrame(
        {
            "timestamp": days.strftime("%Y-%m-%d"),
            "open": open_.round(4),
            "high": high.round(4),
            "low": low.round(4),
            "close": close.round(4),
            "adjusted_close": close.round(4),
            "volume": rng.integers(1_000, 1_000_000, n),
        }
    )


def csv_text(frame: pd.DataFrame) -> str:
    return frame.to_csv(index=False, lineterminator="\n")
