"""The one exception type the CLI turns into a one-line message and exit code 1."""

from __future__ import annotations

import errno
import os
import re


class UpdownError(Exception):
    """Expected bad input or environment: the message names the file, ticker or key at fault."""


def os_reason(exc: OSError) -> str:
    """Why the system refused, in words a user can act on, on one line."""
    text = str(exc).strip()
    # pyarrow wraps the system's reason: "Error writing bytes to file. Detail: [errno 28] ..."
    wrapped = re.search(r"\[errno \d+\] ([^\n]+)", text)
    if wrapped:
        return wrapped.group(1).strip()
    if exc.errno == errno.EEXIST and exc.filename and os.path.isfile(exc.filename):
        return "is a file, where a folder is needed"
    return exc.strerror or (text.splitlines()[0] if text else type(exc).__name__)


def describe_error(exc: BaseException) -> str:
    """The message the CLI prints: an UpdownError's own text; for an OSError, the path the
    system refused and why (disk full, read-only, not a folder, permission denied)."""
    if isinstance(exc, OSError):
        paths = [str(p) for p in (exc.filename, exc.filename2) if p is not None]
        return f"{' -> '.join(paths)}: {os_reason(exc)}" if paths else os_reason(exc)
    return str(exc)
