"""File-system edge: atomic writes, safe per-ticker paths, Parquet/JSON/CSV in and out."""

from __future__ import annotations

import contextlib
import glob
import json
import os
import re
import tempfile
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import pandas as pd

from updown.errors import UpdownError, os_reason

# mkstemp makes 0600 files; an output should get the permissions any new file would (0644 under
# the usual umask), for the next stage, DVC's cache and the user's other tools alike.
_UMASK = os.umask(0)
os.umask(_UMASK)
_SAFE_TICKER = re.compile(r"^(?!\.)(?!.*\.\.)[A-Za-z0-9.^=_-]{1,32}$")


def check_ticker(ticker: str) -> str:
    """Return `ticker` if it is safe as a file name, else raise an error naming it."""
    if not isinstance(ticker, str) or not _SAFE_TICKER.match(ticker):
        shown = ticker if len(str(ticker)) <= 40 else f"{str(ticker)[:40]}..."
        raise UpdownError(
            f"ticker {shown!r} is not safe as a file name: use letters, digits and . ^ = _ -, "
            "1 to 32 characters, no leading dot and no '..'"
        )
    return ticker


def ticker_path(root: Path | str, ticker: str, suffix: str = ".parquet") -> Path:
    """The file for `ticker` under `root`; refuses any ticker that could leave `root`."""
    check_ticker(ticker)
    root = Path(root)
    path = root / f"{ticker}{suffix}"
    if path.resolve().parent != root.resolve():
        raise UpdownError(f"ticker {ticker!r} would be written outside {root}")
    return path


def _cannot_write(path: Path, exc: OSError) -> UpdownError:
    """One line naming the output and, when it differs, the path the system refused."""
    reason = os_reason(exc)
    refused = getattr(exc, "filename", None)
    if refused and Path(refused) != path and not Path(refused).name.startswith(f".{path.name}."):
        reason = f"{refused}: {reason}"
    return UpdownError(f"{path}: cannot write: {reason}")


def _remove_stale_temporaries(path: Path, keep: Path) -> None:
    # A writer killed mid-write (SIGKILL, power cut) leaves its hidden temporary behind; the next
    # successful write of the same output removes it. One output has one writer in the DAG.
    for stale in path.parent.glob(f".{glob.escape(path.name)}.*.tmp"):
        if stale != keep:
            with contextlib.suppress(OSError):
                stale.unlink()


@contextlib.contextmanager
def atomic_path(path: Path | str) -> Iterator[Path]:
    """Yield a temporary path beside `path`; rename it onto `path` only if the block succeeds.

    The data is flushed to disk before the rename, so neither a killed process nor a crash leaves
    a partial file under the final name; failures raise UpdownError naming `path`.
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:
        raise _cannot_write(path, exc) from exc
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        if tmp.is_file():
            os.chmod(tmp, 0o666 & ~_UMASK)
        _fsync(tmp)
        os.replace(tmp, path)
        _fsync(path.parent)
        _remove_stale_temporaries(path, tmp)
    except OSError as exc:
        raise _cannot_write(path, exc) from exc
    finally:
        if tmp.exists():
            tmp.unlink()


def _fsync(path: Path) -> None:
    if path.is_dir():
        try:
            fd = os.open(path, os.O_RDONLY)
        except OSError:  # some file systems refuse to open folders; the rename still happened
            return
        try:
            os.fsync(fd)
        except OSError:
            pass
        finally:
            os.close(fd)
        return
    with path.open("rb+") as fh:
        os.fsync(fh.fileno())


@contextlib.contextmanager
def exclusive_lock(path: Path | str) -> Iterator[None]:
    """Hold an exclusive advisory lock on `path` (created if needed) for the block.

    Serialises processes that share one resource, e.g. two pipelines writing one sqlite store.
    """
    import fcntl

    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fh = path.open("a")
    except OSError as exc:
        raise UpdownError(f"{path}: cannot create lock file: {exc.strerror or exc}") from exc
    with fh:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


def write_with(path: Path | str, writer: Callable[[Path], Any]) -> Path:
    """Run `writer(tmp)` and move the result onto `path` atomically."""
    with atomic_path(path) as tmp:
        writer(tmp)
    return Path(path)


def _dictionary_columns(schema: Any) -> list[str]:
    """Columns worth dictionary encoding: not the floats. Pyarrow tries a dictionary on every
    column by default and gives up on high-cardinality floats only after building one, which made
    writing the S&P features (116 float columns) 2.6x slower for a slightly larger file."""
    import pyarrow as pa

    return [f.name for f in schema if not pa.types.is_floating(f.type)]


def write_parquet(
    df: pd.DataFrame, path: Path | str, metadata: dict[str, str] | None = None
) -> Path:
    """Write `df` atomically; `metadata` (key: text) goes into the file's key-value metadata,
    beside pandas' own, and travels with the data (read it back with `parquet_metadata`)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    def write(tmp: Path) -> None:
        table = pa.Table.from_pandas(df, preserve_index=False)
        if metadata:
            extra = {k.encode(): v.encode() for k, v in metadata.items()}
            table = table.replace_schema_metadata({**(table.schema.metadata or {}), **extra})
        pq.write_table(table, tmp, use_dictionary=_dictionary_columns(table.schema))

    return write_with(path, write)


def write_parquet_batches(frames: Iterable[pd.DataFrame], path: Path | str) -> tuple[int, int]:
    """Write frames with identical columns, one after another, as one Parquet file (atomic), so
    only one batch is in memory at a time. One frame gives the same file as write_parquet.
    Returns (rows, columns)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = columns = 0

    def write(tmp: Path) -> None:
        nonlocal rows, columns
        writer = None
        try:
            for frame in frames:
                table = pa.Table.from_pandas(frame, preserve_index=False)
                if writer is None:
                    dictionary = _dictionary_columns(table.schema)
                    writer = pq.ParquetWriter(tmp, table.schema, use_dictionary=dictionary)
                writer.write_table(table)
                rows, columns = rows + len(frame), len(frame.columns)
        finally:
            if writer is not None:
                writer.close()

    write_with(path, write)
    return rows, columns


def read_parquet(
    path: Path | str, columns: list[str] | None = None, filters: list[Any] | None = None
) -> pd.DataFrame:
    """`path` as a DataFrame; `filters` (pyarrow's, e.g. [("ticker", "in", [...])]) keep only the
    matching rows, read a row group at a time, so the rest of the file is never held whole."""
    try:
        return pd.read_parquet(path, columns=columns, filters=filters, engine="pyarrow")
    except FileNotFoundError as exc:
        raise UpdownError(f"{path}: file not found (run the stage that makes it first)") from exc
    except (OSError, ValueError) as exc:
        raise UpdownError(f"{path}: cannot read as Parquet: {exc}") from exc


def parquet_metadata(path: Path | str, key: str) -> str | None:
    """The text `write_parquet` stored under `key` in the file's metadata; None if absent."""
    import pyarrow.parquet as pq

    try:
        stored = pq.read_schema(path).metadata or {}
    except FileNotFoundError as exc:
        raise UpdownError(f"{path}: file not found (run the stage that makes it first)") from exc
    except (OSError, ValueError) as exc:
        raise UpdownError(f"{path}: cannot read as Parquet: {exc}") from exc
    value = stored.get(key.encode())
    return None if value is None else value.decode()


def to_json_text(obj: Any) -> str:
    """Deterministic JSON: sorted keys, fixed float repr, trailing newline."""
    return json.dumps(obj, indent=2, sort_keys=True, allow_nan=False, default=_json_default) + "\n"


def _json_default(obj: Any) -> Any:
    if hasattr(obj, "item"):
        return obj.item()
    if hasattr(obj, "isoformat"):
        return obj.isoformat()
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def write_json(obj: Any, path: Path | str) -> Path:
    text = to_json_text(obj)
    return write_with(path, lambda tmp: tmp.write_text(text))


def read_json(path: Path | str) -> Any:
    try:
        return json.loads(Path(path).read_text())
    except FileNotFoundError as exc:
        raise UpdownError(f"{path}: file not found (run the stage that makes it first)") from exc
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise UpdownError(f"{path}: not valid JSON: {exc}") from exc
    except OSError as exc:
        raise UpdownError(f"{path}: cannot read: {exc.strerror or exc}") from exc


def write_text(text: str, path: Path | str) -> Path:
    return write_with(path, lambda tmp: tmp.write_text(text))


def write_csv(df: pd.DataFrame, path: Path | str) -> Path:
    return write_with(path, lambda tmp: df.to_csv(tmp, index=False, lineterminator="\n"))
