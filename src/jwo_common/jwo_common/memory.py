"""Hands freed heap memory back to the operating system (glibc; elsewhere a no-op).

A long-running process that allocates and frees image-sized buffers, from several threads
(the DDS receive threads and the executor), leaves free holes between the blocks still in
use; glibc gives memory back only from the top of its heaps, so the process's resident
size creeps up with every burst although it holds no more data. `malloc_trim` releases
the free pages wherever they are.

Buffers of image size should not sit in the heap at all: glibc serves blocks above its
mmap threshold (128 KiB) with their own mappings, unmapped on free, but raises that
threshold to the size of every such block freed (up to 32 MiB), after which the next
frames' buffers come from the heap, and the small objects allocated between them pin their
pages. `bound_heap_growth` fixes the threshold (in the fault soak the detection process
then stayed within 2% for 25 minutes, where it had grown 13-15% in two of the three runs
before).
"""

from __future__ import annotations

import ctypes
import ctypes.util

# Seconds between trims: each takes about a millisecond, and the creep is minutes long.
TRIM_PERIOD_S = 30.0
# Blocks this large or larger get their own mapping (glibc's initial threshold).
MMAP_THRESHOLD_BYTES = 128 * 1024
_M_MMAP_THRESHOLD = -3      # mallopt's parameter number (malloc.h)


def _libc_function(name: str, argtypes: list, restype):
    try:
        libc = ctypes.CDLL(ctypes.util.find_library('c') or 'libc.so.6')
    except OSError:
        return None
    function = getattr(libc, name, None)
    if function is not None:
        function.argtypes, function.restype = argtypes, restype
    return function


_TRIM = _libc_function('malloc_trim', [ctypes.c_size_t], ctypes.c_int)
_MALLOPT = _libc_function('mallopt', [ctypes.c_int, ctypes.c_int], ctypes.c_int)


def bound_heap_growth() -> bool:
    """Keeps large blocks out of the heap for the life of the process (call it once, at
    start). False when the C library cannot (not glibc)."""
    return bool(_MALLOPT(_M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES)) if _MALLOPT is not None \
        else False


def release_free_memory() -> bool:
    """True when pages went back to the system; False when none did or the C library
    cannot (not glibc)."""
    return bool(_TRIM(0)) if _TRIM is not None else False
