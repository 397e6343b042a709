"""How a stage process's heap is set up (glibc only): freed column-sized memory kept for reuse,
and malloc'd memory on transparent huge pages.

A panel column is 13.6 MB at the S&P folder's 1.7 million rows. glibc's malloc hands such a block
back to the OS when it is freed (from the top of the heap once more than the trim threshold is
free, or at once when it was mmapped), so the next column faults in fresh zeroed pages: the
features stage spent a third of its CPU in the kernel doing so. Keeping freed memory for reuse
cuts its system time by 40% (4.5 s to 2.6 s on the S&P folder) with the same peak RSS; the values
computed do not change, only where their memory comes from. Every `updown` command does so.

LightGBM's histograms read the binned training rows (~130 MB on the S&P folder) in the order of
each round's bagged sample and each leaf's rows: on 4 KiB pages most of those reads miss the
TLB. glibc 2.35+ asks the kernel for transparent huge pages for malloc'd memory when its tunable
`glibc.malloc.hugetlb` is 1, and train's boosting then took 17% less time on this project's
machine while its host ran slow, 5% when it ran fast (the same model, byte for byte). glibc reads its tunables only as a process starts, so `updown` sets it and
executes itself again before numpy or pandas loads (`with_huge_pages`).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping

M_TRIM_THRESHOLD = -1  # mallopt parameters, from glibc's malloc.h
M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD_MAX = 32 * 1024 * 1024  # glibc's largest on 64-bit: blocks up to it use the heap
TRIM_THRESHOLD = 2**31 - 1  # the largest an int holds: freed heap memory stays for reuse
HUGE_PAGES = ("glibc.malloc.hugetlb", "1")  # madvise(MADV_HUGEPAGE) on malloc's memory
HUGE_PAGES_GLIBC = (2, 35)  # the first glibc with the tunable; older ones ignore it


def keep_freed_memory() -> bool:
    """Ask glibc's malloc to keep freed blocks of up to 32 MB for reuse rather than returning
    them to the OS. False (and nothing changed) where the C library is not glibc."""
    if glibc_version() is None:
        return False
    import ctypes  # here, not at the top: `updown` imports this module before anything else

    try:
        mallopt = ctypes.CDLL("libc.so.6").mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    return bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_MAX)) and bool(
        mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD)
    )


def glibc_version() -> tuple[int, int] | None:
    """The running C library's glibc (major, minor), or None where it is not glibc."""
    try:
        text = os.confstr("CS_GNU_LIBC_VERSION") or ""  # "glibc 2.36"
    except (AttributeError, ValueError, OSError):  # not a POSIX system, or not glibc
        return None
    name, _, version = text.partition(" ")
    parts = version.split(".")
    if name != "glibc" or len(parts) < 2 or not all(p.isdigit() for p in parts[:2]):
        return None
    return int(parts[0]), int(parts[1])


def huge_page_tunables(env: Mapping[str, str]) -> str | None:
    """GLIBC_TUNABLES with huge pages for malloc added, or None when `env` already names the
    tunable (set by us before, or by the user, whose value stands)."""
    current = env.get("GLIBC_TUNABLES", "")
    names = {item.partition("=")[0] for item in current.split(":") if item}
    if HUGE_PAGES[0] in names:
        return None
    return ":".join([*filter(None, current.split(":")), "=".join(HUGE_PAGES)])


def with_huge_pages(argv: list[str]) -> None:
    """Execute this process again (same `argv`, same PID) with malloc on huge pages, once; a
    no-op where glibc lacks the tunable or the environment already sets it (set it yourself,
    to any value, to run a command without the second start: under a profiler, say)."""
    version = glibc_version()
    tunables = huge_page_tunables(os.environ)
    if version is None or version < HUGE_PAGES_GLIBC or tunables is None:
        return
    os.execve(sys.executable, argv, {**os.environ, "GLIBC_TUNABLES": tunables})
