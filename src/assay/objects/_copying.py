"""Copying a file into the cache while hashing it, reading the source once.

The kernel copies each chunk (``copy_file_range``) on a helper thread while BLAKE3 hashes the
same pages through mmap; where the kernel cannot copy between the two files, a user-space loop
hashes chunk N on a helper thread while writing it.
"""

from __future__ import annotations

import errno
import mmap
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

COPY_CHUNK = 32 * 1024 * 1024


def copy_range(src: int, dst: int, offset: int, count: int) -> None:
    """Copy ``count`` bytes at ``offset`` inside the kernel (no trip through user space)."""
    done = 0
    while done < count:
        moved = os.copy_file_range(src, dst, count - done, offset + done, offset + done)
        if moved == 0:
            raise OSError(errno.EIO, "source file shrank while copying")
        done += moved


def kernel_copy_hashing(
    src: int, dst: int, size: int, update: Callable[[memoryview], object]
) -> bool:
    """Copy with ``copy_file_range`` while BLAKE3 hashes the same range from the page cache.

    Each chunk is read from disk once: the kernel copies it on a helper thread while the hash
    consumes the same (now cached) pages through mmap. Returns False where the kernel cannot
    copy between these files (the caller then copies through user space).
    """
    if not hasattr(os, "copy_file_range"):
        return False
    try:
        copy_range(src, dst, 0, min(4096, size))
    except OSError as exc:
        if exc.errno in (errno.EXDEV, errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP, errno.EBADF):
            os.ftruncate(dst, 0)
            return False
        raise
    with mmap.mmap(src, 0, access=mmap.ACCESS_READ) as mapped, ThreadPoolExecutor(1) as pool:
        view = memoryview(mapped)
        try:
            offset = 0
            while offset < size:
                count = min(COPY_CHUNK, size - offset)
                copying = pool.submit(copy_range, src, dst, offset, count)
                part = view[offset : offset + count]
                try:
                    update(part)
                finally:
                    part.release()
                    copying.result()
                offset += count
        finally:
            view.release()
    return True


def write_all(fd: int, data: memoryview) -> None:
    while data:
        written = os.write(fd, data)
        data = data[written:]


def pipelined_copy(
    readinto: Callable[[bytearray], int | None],
    fd: int,
    update: Callable[[memoryview], object],
) -> None:
    """Hash chunk N on a helper thread while writing chunk N (BLAKE3 releases the GIL)."""
    buffers = [bytearray(COPY_CHUNK), bytearray(COPY_CHUNK)]
    with ThreadPoolExecutor(1) as pool:
        current = 0
        count = readinto(buffers[current]) or 0
        while count:
            view = memoryview(buffers[current])[:count]
            hashing = pool.submit(update, view)
            try:
                write_all(fd, view)
            finally:
                hashing.result()
            current ^= 1
            count = readinto(buffers[current]) or 0
