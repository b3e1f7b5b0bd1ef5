"""Hands freed heap memory back to the operating system (glibc; elsewhere a no-op).

A long-running process that allocates and frees image-sized buffers, from several threads
(the DDS receive threads and the executor), leaves free holes between the blocks still in
use; glibc gives memory back only from the top of its heaps, so the process's resident
size creeps up with every burst although it holds no more data. `malloc_trim` releases
the free pages wherever they are.
"""

from __future__ import annotations

import ctypes
import ctypes.util

# Seconds between trims: each takes about a millisecond, and the creep is minutes long.
TRIM_PERIOD_S = 30.0


def _malloc_trim():
    try:
        libc = ctypes.CDLL(ctypes.util.find_library('c') or 'libc.so.6')
    except OSError:
        return None
    trim = getattr(libc, 'malloc_trim', None)
    if trim is not None:
        trim.argtypes, trim.restype = [ctypes.c_size_t], ctypes.c_int
    return trim


_TRIM = _malloc_trim()


def release_free_memory() -> bool:
    """True when pages went back to the system; False when none did or the C library
    cannot (not glibc)."""
    return bool(_TRIM(0)) if _TRIM is not None else False
