"""A stage process's memory: freed column-sized blocks kept for reuse (glibc only), numpy's
arrays on ordinary pages, and no garbage collection at exit.

A panel column is 13.6 MB at the S&P folder's 1.7 million rows. glibc's malloc hands such a block
back to the OS when it is freed (from the top of the heap once more than the trim threshold is
free, or at once when it was mmapped), so the next column faults in fresh zeroed pages: the
features stage spent a third of its CPU in the kernel doing so. Keeping freed memory for reuse
cuts its system time by 40% (4.5 s to 2.6 s on the S&P folder) with the same peak RSS; the values
computed do not change, only where their memory comes from. Every `updown` command does so.

Not done: malloc on transparent huge pages (`GLIBC_TUNABLES=glibc.malloc.hugetlb=1`, which needs
the process to execute itself again). It shortened train's boosting on one day's slow host and
measured even or slower every time since (the train process 27.8 s with them against 27.0 s
without, three interleaved pairs; the S&P pipeline 64.8 s against 65.2 s, two pairs): train's
user time fell by 2 s and its system time rose by 2.3 s, the first fault of a huge page costing
what its TLB hits saved.

numpy asks the kernel to back each array of 4 MB or more with transparent huge pages (where THP
is in `madvise` mode, the common default). Each first touch of such an array then faults in and
zeroes 2 MB at a time; on the S&P folder the validate and features stages spent that in system
time: without the advice validate took 2.5 s instead of 3.0 s and features 7.9 s instead of
9.3 s (its system time 1.3-2.9 s instead of 4.5 s), the pipeline 59.1 s against 60.3 s (two
interleaved pairs of whole runs). Evaluate and predict fault more 4 KB pages instead (their
system time up by 1.5 s and 0.6-1.9 s); keeping the advice for them alone was no faster in two
more pairs. So every `updown` process turns the advice off before numpy is imported, unless
NUMPY_MADVISE_HUGEPAGE is already set (the user's choice wins).

Python's shutdown runs one last garbage collection over every object still alive: in the track
stage, MLflow's, SQLAlchemy's and pydantic's by the hundred thousand, 0.8 s between the stage's
last line and its exit (0.1 s in label and predict). A finished command's objects are frozen
instead (gc.freeze: never collected again); the exit frees their memory all the same, and exit
handlers (logging's flush, MLflow's) still run.
"""

from __future__ import annotations

import gc
import os

M_TRIM_THRESHOLD = -1  # mallopt parameters, from glibc's malloc.h
M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD_MAX = 32 * 1024 * 1024  # glibc's largest on 64-bit: blocks up to it use the heap
TRIM_THRESHOLD = 2**31 - 1  # the largest an int holds: freed heap memory stays for reuse


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


def numpy_on_ordinary_pages() -> None:
    """Turn off numpy's huge-page advice for this process and its children (numpy reads the
    variable when first imported), unless NUMPY_MADVISE_HUGEPAGE is set already."""
    os.environ.setdefault("NUMPY_MADVISE_HUGEPAGE", "0")


def leave_objects_to_the_exit() -> None:
    """Exempt every object alive now from garbage collection, the one at shutdown included."""
    gc.freeze()


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
