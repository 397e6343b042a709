"""Files as the MLflow run holds them: artifacts staged as copies, text scrubbed of
credentials; Parquet inputs described as MLflow datasets (schema, rows, content hash), never
copied.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from updown.redact import scrub

# Text artifacts are scrubbed of credentials before they are logged; others are copied as is.
TEXT_SUFFIXES = {".yaml", ".yml", ".json", ".lock", ".html", ".csv", ".txt", ".md", ".svg"}


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def stage_artifacts(
    paths: list[Path], staging: Path, secrets: list[str], base: Path | None = None
) -> list[Path]:
    """Copies of the existing `paths` in `staging` (at their path relative to `base`, else by
    name), text files scrubbed of credentials; hidden files (tool stamps) are left out."""
    out = []
    for path in paths:
        if not path.is_file() or path.name.startswith("."):
            continue
        dest = staging / (path.relative_to(base) if base else path.name)
        dest.parent.mkdir(parents=True, exist_ok=True)
        if path.suffix in TEXT_SUFFIXES:
            dest.write_text(scrub(path.read_text(errors="replace"), secrets))
        else:
            dest.write_bytes(path.read_bytes())
        out.append(dest)
    return out


def parquet_dataset(path: Path, name: str, digest: str) -> Any:
    """An MLflow dataset input for a Parquet file: schema, row count and content hash, read from
    the file's metadata (the data itself is not copied or loaded)."""
    import warnings

    import pyarrow.parquet as pq
    from mlflow.data.dataset_source_registry import resolve_dataset_source
    from mlflow.data.meta_dataset import MetaDataset
    from mlflow.types.utils import _infer_schema

    meta = pq.ParquetFile(path)
    empty = meta.schema_arrow.empty_table().to_pandas()
    # MLflow warns that integer columns cannot hold NaN, and that its local file source is
    # registered twice; neither matters here.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        source = resolve_dataset_source(str(path.resolve()))
        try:
            schema = _infer_schema(empty)
        except Exception:  # an exotic column type: the dataset is still worth logging
            schema = None
    profile = {
        "num_rows": meta.metadata.num_rows,
        "num_columns": len(empty.columns),
        "sha256": digest,
    }

    class ParquetDataset(MetaDataset):  # type: ignore[misc]
        @property
        def profile(self) -> dict[str, Any]:
            return profile

        def to_dict(self) -> dict[str, str]:
            return {**super().to_dict(), "profile": json.dumps(profile)}

    return ParquetDataset(source=source, name=name, digest=digest[:32], schema=schema)


def code_sha256(package: Path) -> str:
    """One digest of the package's source (each .py file's path and bytes): the code part of a
    result's fingerprint, the same in any checkout of the same code."""
    digest = hashlib.sha256()
    for path in sorted(package.rglob("*.py")):
        digest.update(path.relative_to(package).as_posix().encode() + b"\0")
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


def result_fingerprint(hashes: dict[str, str], params: dict[str, str], code: str) -> str:
    """The SHA-256 of what makes a result: its input and output files' hashes, its params (as
    logged) and its code. Who ran it, when, and where it is logged are not part of it."""
    payload = {"files": hashes, "params": params, "code": code}
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()
