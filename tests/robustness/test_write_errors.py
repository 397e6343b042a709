"""Disk and permission errors while writing outputs: one line naming the path, exit 1, and the
previous output untouched (the write goes to a temporary that is removed on failure).

These tests run as root in CI, where file modes refuse nothing, so each error is made real in a
way root cannot override: a folder that is a regular file, a per-process file-size limit
(RLIMIT_FSIZE, "File too large"), and, where the machine lets us mount, a full and a read-only
tmpfs.
"""

from __future__ import annotations

import resource
import subprocess
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import project_env
from hostile import REPO, UPDOWN, error_line, updown

PREVIOUS = b"the previous labels"


@pytest.fixture(scope="module")
def prices(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small validated-looking panel whose labels file is ~100 kB."""
    path = tmp_path_factory.mktemp("write_errors") / "prices.parquet"
    rng = np.random.default_rng(1)
    stamps = pd.bdate_range("2001-01-02", periods=3000, tz="UTC") + pd.Timedelta(hours=5)
    close = 50 * np.exp(np.cumsum(rng.normal(0, 0.01, 6000)))
    pd.DataFrame(
        {
            "ticker": np.repeat(["AAA", "BBB"], 3000),
            "timestamp": np.tile(stamps, 2),
            "open": close,
            "high": close * 1.01,
            "low": close * 0.99,
            "close": close,
            "adj_close": close,
            "volume": 1e5,
        }
    ).to_parquet(path, index=False)
    return path


def label(prices: Path, out: Path, cwd: Path, **popen: object) -> subprocess.CompletedProcess[str]:
    args = [UPDOWN, "label", "--params", str(REPO / "params.yaml"), "--prices", str(prices)]
    return subprocess.run(
        [*args, "--out", str(out)], cwd=cwd, env=project_env(), capture_output=True, text=True,
        timeout=300, **popen,
    )  # type: ignore[call-overload]  # fmt: skip


def no_temporaries(folder: Path) -> bool:
    return not list(folder.glob(".*.tmp"))


def test_an_output_folder_that_is_a_file_is_named(prices: Path, tmp_path: Path) -> None:
    (tmp_path / "reports").write_text("a file where a folder should be")
    out = tmp_path / "reports" / "labels.parquet"
    done = label(prices, out, tmp_path)
    error_line(
        done,
        "label",
        f"{out}: cannot write: {tmp_path / 'reports'}: is a file, where a folder is needed",
    )


def test_a_file_size_limit_fails_the_write_and_keeps_the_previous_output(
    prices: Path, tmp_path: Path
) -> None:
    out = tmp_path / "labels.parquet"
    out.write_bytes(PREVIOUS)

    def limit() -> None:  # in the child only: the kernel refuses to grow any file past 20 kB
        resource.setrlimit(resource.RLIMIT_FSIZE, (20_000, 20_000))

    done = label(prices, out, tmp_path, preexec_fn=limit)
    error_line(done, "label", f"{out}: cannot write: File too large")
    assert out.read_bytes() == PREVIOUS
    assert no_temporaries(tmp_path)


def test_an_unwritable_log_file_is_named(prices: Path, tmp_path: Path) -> None:
    (tmp_path / "logs").write_text("a file where a folder should be")
    done = updown(
        "label", "--params", str(REPO / "params.yaml"), "--prices", str(prices),
        "--out", "labels.parquet", "--log", "logs/label.log", cwd=tmp_path,
    )  # fmt: skip
    error_line(done, "label", "logs: is a file, where a folder is needed")
    assert not (tmp_path / "labels.parquet").exists()


@pytest.fixture
def tmpfs(tmp_path: Path) -> Iterator[Path]:
    """A 64 kB tmpfs mounted for this test (root with CAP_SYS_ADMIN only; else skipped)."""
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mount)],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", str(mount)], check=True)


def test_a_full_disk_fails_the_write_and_keeps_the_previous_output(
    prices: Path, tmpfs: Path
) -> None:
    out = tmpfs / "labels.parquet"
    out.write_bytes(PREVIOUS)
    done = label(prices, out, tmpfs.parent)
    error_line(done, "label", f"{out}: cannot write: No space left on device")
    assert out.read_bytes() == PREVIOUS
    assert no_temporaries(tmpfs)


def test_a_read_only_disk_is_named(prices: Path, tmpfs: Path) -> None:
    out = tmpfs / "labels.parquet"
    out.write_bytes(PREVIOUS)
    subprocess.run(["mount", "-o", "remount,ro", str(tmpfs)], check=True)
    done = label(prices, out, tmpfs.parent)
    error_line(done, "label", f"{out}: cannot write: Read-only file system")
    assert out.read_bytes() == PREVIOUS
