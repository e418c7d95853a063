"""Keep freed memory for reuse: how the command line and the batch workers run the model fast.

A run allocates and frees arrays of several megabytes every month (a prime's caseload). By
default glibc hands each such block to the operating system when it is freed and asks for it
again the next month, so the kernel zeroes and maps the same pages over and over: on a national
run that is about a quarter of the CPU time, spent in the kernel. Raising glibc's mmap and trim
thresholds keeps freed blocks in the process's heap for reuse; results are unchanged and peak
memory barely moves (benchmarks/README.md).

It changes how the whole process allocates, so the library never does it on import: the
``pbrsim`` command and the batch workers call :func:`keep_freed_memory`; a notebook may call it
too. Elsewhere than glibc (macOS, Windows, musl) it does nothing.
"""

from __future__ import annotations

import ctypes
import logging
import sys

__all__ = ["keep_freed_memory"]

logger = logging.getLogger(__name__)

# mallopt parameters (glibc's malloc.h)
_M_TRIM_THRESHOLD = -1
_M_TOP_PAD = -2
_M_MMAP_THRESHOLD = -3
#: Blocks up to this size come from the heap and stay there when freed (glibc's own ceiling
#: for the mmap threshold on 64-bit systems is 32 MiB: larger requests are still mapped).
_MMAP_THRESHOLD = 32 * 1024 * 1024
#: Freed memory at the top of the heap kept rather than returned to the system.
_TRIM_THRESHOLD = 1024 * 1024 * 1024
#: Extra memory asked for whenever the heap grows, so it grows in fewer steps.
_TOP_PAD = 64 * 1024 * 1024

_done = False


def keep_freed_memory() -> bool:
    """Ask glibc to keep freed blocks for reuse; return whether it took effect (idempotent)."""
    global _done
    if _done:
        return True
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL("libc.so.6")  # glibc's soname (musl has no mallopt)
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    ok = all(mallopt(param, value) == 1 for param, value in (
        (_M_MMAP_THRESHOLD, _MMAP_THRESHOLD), (_M_TRIM_THRESHOLD, _TRIM_THRESHOLD), (_M_TOP_PAD, _TOP_PAD)))
    _done = ok
    logger.debug("glibc keeps freed memory for reuse: %s", ok)
    return ok
