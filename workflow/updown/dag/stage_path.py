"""How a stage's shell finds `updown`, whether or not the venv is on PATH.

`.venv/bin/dvc repro` or `.venv/bin/snakemake` from a plain shell starts each stage with the
caller's PATH, which lacks the venv: `updown: command not found`. Every stage therefore runs
with the project's `.venv/bin` appended to PATH. Appended, not prepended: an `updown` already on
PATH (an activated venv, the test suite's interpreter, the benchmark's metering stand-in) still
wins. `$PWD` is the stage's working directory, the project root, for both orchestrators.
"""

from __future__ import annotations

PATH_FALLBACK = 'PATH="$PATH:$PWD/.venv/bin"'

# Snakemake's own default prefix is `set -euo pipefail; `; shell.prefix() replaces it, so keep it.
SNAKEMAKE_PREFIX = f"set -euo pipefail; export {PATH_FALLBACK}; "


def dvc_cmd(shellcmd: str) -> str:
    """The dvc.yaml `cmd` of a rule's shell line: the same command, the venv as PATH fallback."""
    return f"{PATH_FALLBACK} {shellcmd}"
