"""The C library calls: adjtimex through the process's own libc, and malloc_trim giving
freed heap pages back (glibc; the suite runs on Debian)."""

from __future__ import annotations

import subprocess
import sys

from edgerun import clock, libc


def test_libc_is_loaded_once_and_has_adjtimex() -> None:
    lib = libc.libc()
    assert lib is not None
    assert lib is libc.libc()
    assert hasattr(lib, "adjtimex")
    # The kernel answers (synced or not); None would mean the call itself failed.
    assert clock._kernel_synced() in (True, False)


def test_malloc_trim_returns_freed_heap_pages() -> None:
    # In a child, so the measurement is not disturbed by the test runner's own heap. 40 MB
    # of heap blocks are freed below a block that is kept, so glibc cannot shrink the heap
    # from the top by itself: only malloc_trim releases those pages.
    code = """
import ctypes
from edgerun.libc import libc, malloc_trim
lib = libc()
lib.malloc.restype = ctypes.c_void_p
lib.malloc.argtypes = [ctypes.c_size_t]
lib.free.argtypes = [ctypes.c_void_p]
def rss():
    for line in open("/proc/self/status"):
        if line.startswith("VmRSS"):
            return int(line.split()[1])
blocks = [lib.malloc(64000) for _ in range(640)]
for b in blocks:
    ctypes.memset(b, 1, 64000)
keep = lib.malloc(64000)
ctypes.memset(keep, 1, 64000)
for b in blocks:
    lib.free(b)
before = rss()
assert malloc_trim()
print(before - rss())
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert int(out.stdout) > 30_000  # KiB given back of the ~40,000 freed
