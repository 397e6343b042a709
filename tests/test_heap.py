"""updown.heap: a stage process keeps freed memory for reuse (glibc), and the kernel sees it."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from updown.heap import glibc_version, keep_freed_memory

GLIBC = glibc_version()
needs_glibc = pytest.mark.skipif(GLIBC is None, reason="the C library is not glibc")


def test_glibc_version_is_read_from_the_running_c_library() -> None:
    if not sys.platform.startswith("linux"):
        assert GLIBC is None
        return
    libc, _ = os.confstr("CS_GNU_LIBC_VERSION").split(" ")
    assert (GLIBC is not None) == (libc == "glibc")


# How much resident memory freeing a 16 MiB column-sized block gives back to the OS, in KiB.
FREE_ONE_BLOCK = """
import os, sys
from updown.heap import keep_freed_memory
if sys.argv[1] == "kept":
    assert keep_freed_memory()
import numpy as np

def resident_kib():
    return int(open("/proc/self/statm").read().split()[1]) * os.sysconf("SC_PAGE_SIZE") // 1024

block = np.ones(16 * 2**20 // 8)
before = resident_kib()
del block
print(before - resident_kib())
"""


def returned_kib(mode: str) -> int:
    out = subprocess.run(
        [sys.executable, "-c", FREE_ONE_BLOCK, mode],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return int(out.stdout)


@needs_glibc
def test_a_freed_column_sized_block_stays_with_the_process_for_reuse() -> None:
    assert returned_kib("plain") >= 15 * 1024  # glibc's default: mmapped, unmapped on free
    assert returned_kib("kept") < 1024  # kept on the heap: the next column reuses its pages


def test_keeping_freed_memory_is_a_no_op_without_glibc(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("updown.heap.glibc_version", lambda: None)
    assert keep_freed_memory() is False


# numpy's huge-page advice as an `updown` process sees it: set up by the console script's entry
# point before numpy is first imported (`--help` exits before any stage imports it).
ADVICE = """
import sys
from updown.cli import entry
sys.argv = ["updown", "--help"]
try:
    entry()
except SystemExit:
    pass
assert "numpy" not in sys.modules
import gc
print("frozen", gc.get_freeze_count())
from numpy._core import multiarray
print(multiarray._get_madvise_hugepage())
"""


def after_entry(env: dict[str, str]) -> list[str]:
    out = subprocess.run(
        [sys.executable, "-c", ADVICE],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
        env=env,
    )
    return out.stdout.strip().splitlines()[-2:]


def test_an_updown_process_keeps_numpy_arrays_off_huge_pages_unless_the_user_asks() -> None:
    env = {k: v for k, v in os.environ.items() if k != "NUMPY_MADVISE_HUGEPAGE"}
    assert after_entry(env)[-1] == "False"
    assert after_entry({**env, "NUMPY_MADVISE_HUGEPAGE": "1"})[-1] == "True"


def test_a_finished_command_leaves_its_objects_to_the_exit_not_to_a_last_collection() -> None:
    frozen = after_entry(dict(os.environ))[0]
    assert frozen.startswith("frozen ") and int(frozen.split()[1]) > 1000
