"""Fewer page faults for a stage that allocates and frees many column-sized arrays (glibc only).

A panel column is 13.6 MB at the S&P folder's 1.7 million rows. glibc's malloc hands such a block
back to the OS when it is freed (from the top of the heap once more than the trim threshold is
free, or at once when it was mmapped), so the next column faults in fresh zeroed pages: the
features stage spent a third of its CPU in the kernel doing so. Keeping freed memory for reuse
cuts its system time by 40% (4.5 s to 2.6 s on the S&P folder) with the same peak RSS; the values
computed do not change, only where their memory comes from.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys

M_TRIM_THRESHOLD = -1  # mallopt parameters, from glibc's malloc.h
M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD_MAX = 32 * 1024 * 1024  # glibc's largest on 64-bit: blocks up to it use the heap
TRIM_THRESHOLD = 2**31 - 1  # the largest an int holds: freed heap memory stays for reuse


def keep_freed_memory() -> bool:
    """Ask glibc's malloc to keep freed blocks of up to 32 MB for reuse rather than returning
    them to the OS. False (and nothing changed) where the C library is not glibc."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        mallopt = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    return bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_MAX)) and bool(
        mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD)
    )
