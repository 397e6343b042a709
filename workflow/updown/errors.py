"""The one exception type the CLI turns into a one-line message and exit code 1."""

from __future__ import annotations


class UpdownError(Exception):
    """Expected bad input or environment: the message names the file, ticker or key at fault."""


def describe_error(exc: BaseException) -> str:
    """The message the CLI prints: an UpdownError's own text; for an OSError, the path the
    system refused and why (disk full, read-only, permission denied)."""
    if isinstance(exc, OSError):
        reason = exc.strerror or str(exc) or type(exc).__name__
        paths = [str(p) for p in (exc.filename, exc.filename2) if p is not None]
        return f"{' -> '.join(paths)}: {reason}" if paths else reason
    return str(exc)
