"""updown.heap: the stage processes' malloc tunables, and that the kernel honours them."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from updown.heap import HUGE_PAGES_GLIBC, glibc_version, huge_page_tunables, keep_freed_memory

GLIBC = glibc_version()
needs_tunable = pytest.mark.skipif(
    GLIBC is None or GLIBC < HUGE_PAGES_GLIBC,
    reason=f"glibc {GLIBC} lacks glibc.malloc.hugetlb (needs {HUGE_PAGES_GLIBC})",
)
THP = Path("/sys/kernel/mm/transparent_hugepage/enabled")


def thp_mode() -> str | None:
    """The kernel's transparent huge page mode ('always', 'madvise', 'never'), None if unknown."""
    if not THP.is_file():
        return None
    text = THP.read_text()
    return text[text.index("[") + 1 : text.index("]")] if "[" in text else None


def child_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "GLIBC_TUNABLES"}
    return env | extra


def test_huge_pages_are_added_to_the_tunables_already_set() -> None:
    assert huge_page_tunables({}) == "glibc.malloc.hugetlb=1"
    assert huge_page_tunables({"GLIBC_TUNABLES": ""}) == "glibc.malloc.hugetlb=1"
    mine = "glibc.malloc.arena_max=2:glibc.malloc.tcache_count=0"
    assert huge_page_tunables({"GLIBC_TUNABLES": mine}) == f"{mine}:glibc.malloc.hugetlb=1"


def test_a_huge_page_setting_already_made_stands_and_stops_the_reexecution() -> None:
    for value in ("glibc.malloc.hugetlb=0", "glibc.malloc.arena_max=2:glibc.malloc.hugetlb=2"):
        assert huge_page_tunables({"GLIBC_TUNABLES": value}) is None


def test_glibc_version_is_read_from_the_running_c_library() -> None:
    if not sys.platform.startswith("linux"):
        assert GLIBC is None
        return
    libc, _ = os.confstr("CS_GNU_LIBC_VERSION").split(" ")
    assert (GLIBC is not None) == (libc == "glibc")
    if GLIBC is not None:
        assert keep_freed_memory()


REPORT = """
import os, sys
from updown.heap import with_huge_pages
with_huge_pages(sys.orig_argv)
print(os.getpid(), os.environ.get("GLIBC_TUNABLES"), flush=True)
"""


@needs_tunable
def test_the_process_executes_itself_once_with_huge_pages_and_keeps_its_pid() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-c", REPORT],
        env=child_env(),
        stdout=subprocess.PIPE,
        text=True,
    )
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0
    assert out.split() == [str(proc.pid), "glibc.malloc.hugetlb=1"]  # printed once: no loop


# malloc (not numpy's own madvise, switched off) must be what asks for huge pages.
ALLOCATE = """
import os, sys
from updown.heap import with_huge_pages
if sys.argv[1] == "tuned":
    with_huge_pages(sys.orig_argv)
import numpy as np
block = np.ones(64 * 2**20 // 8)
rollup = open("/proc/self/smaps_rollup").read().splitlines()
print(next(int(line.split()[1]) for line in rollup if line.startswith("AnonHugePages:")))
"""


def huge_kb(mode: str, **env: str) -> int:
    out = subprocess.run(
        [sys.executable, "-c", ALLOCATE, mode],
        env=child_env(NUMPY_MADVISE_HUGEPAGE="0", **env),
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return int(out.stdout)


@needs_tunable
@pytest.mark.skipif(
    thp_mode() != "madvise", reason=f"transparent huge pages are {thp_mode()!r}, not 'madvise'"
)
def test_malloc_memory_lands_on_huge_pages_only_when_tuned() -> None:
    assert huge_kb("tuned") >= 2048  # at least one 2 MiB page backs the 64 MiB block
    assert huge_kb("plain", GLIBC_TUNABLES="glibc.malloc.hugetlb=0") == 0
