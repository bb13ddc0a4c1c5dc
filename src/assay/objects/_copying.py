"""Copying a file into the cache while hashing it, reading the source once.

The kernel copies each chunk (``copy_file_range``) on a helper thread while BLAKE3 hashes the
same pages through mmap; where the kernel cannot copy between the two files, a user-space loop
hashes chunk N on a helper thread while writing it.
"""

from __future__ import annotations

import contextlib
import errno
import mmap
import os
from collections.abc import Callable
from io import FileIO

COPY_CHUNK = 32 * 1024 * 1024


def copy_range(src: int, dst: int, offset: int, count: int) -> None:
    """Copy ``count`` bytes at ``offset`` inside the kernel (no trip through user space)."""
    done = 0
    while done < count:
        moved = os.copy_file_range(src, dst, count - done, offset + done, offset + done)
        if moved == 0:
            raise OSError(errno.EIO, "source file shrank while copying")
        done += moved


def start_writeback(fd: int, offset: int, count: int) -> None:
    """Ask the kernel to start writing ``count`` bytes at ``offset`` of ``fd`` to disk now.

    A durable copy ends in ``fsync``; left alone, the kernel would write nothing until then (the
    dirty limit of a large page cache is gigabytes) and the fsync would write the whole file
    while the copy sits idle. ``POSIX_FADV_DONTNEED`` on a dirty range starts its writeback
    without waiting for it (pages still being written stay cached). Best effort.
    """
    advise = getattr(os, "posix_fadvise", None)
    if advise is None or count <= 0:
        return
    with contextlib.suppress(OSError):
        advise(fd, offset, count, os.POSIX_FADV_DONTNEED)


def _copy_chunk(src: int, dst: int, offset: int, count: int, written: tuple[int, int] | None
                ) -> None:
    copy_range(src, dst, offset, count)
    if written is not None:
        start_writeback(dst, *written)


def kernel_copy_hashing(
    src: int, dst: int, size: int, update: Callable[[memoryview], object], *,
    durable: bool = False,
) -> bool:
    """Copy with ``copy_file_range`` while BLAKE3 hashes the same range from the page cache.

    Each chunk is read from disk once: the kernel copies it on a helper thread while the hash
    consumes the same (now cached) pages through mmap. With ``durable`` (an fsync follows),
    each chunk's writeback starts while the next one is copied. Returns False where the kernel
    cannot copy between these files (the caller then copies through user space).
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
    from concurrent.futures import ThreadPoolExecutor  # (ms to import: only big files use it)

    with mmap.mmap(src, 0, access=mmap.ACCESS_READ) as mapped, ThreadPoolExecutor(1) as pool:
        view = memoryview(mapped)
        try:
            offset = 0
            previous: tuple[int, int] | None = None
            while offset < size:
                count = min(COPY_CHUNK, size - offset)
                copying = pool.submit(_copy_chunk, src, dst, offset, count,
                                      previous if durable else None)
                part = view[offset : offset + count]
                try:
                    update(part)
                finally:
                    part.release()
                    copying.result()
                previous = (offset, count)
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
    *,
    durable: bool = False,
) -> None:
    """Hash chunk N on a helper thread while writing chunk N (BLAKE3 releases the GIL); with
    ``durable``, start each written chunk's writeback (see :func:`start_writeback`)."""
    from concurrent.futures import ThreadPoolExecutor

    buffers = [bytearray(COPY_CHUNK), bytearray(COPY_CHUNK)]
    with ThreadPoolExecutor(1) as pool:
        current = 0
        offset = 0
        count = readinto(buffers[current]) or 0
        while count:
            view = memoryview(buffers[current])[:count]
            hashing = pool.submit(update, view)
            try:
                write_all(fd, view)
            finally:
                hashing.result()
            if durable:
                start_writeback(fd, offset, count)
            offset += count
            current ^= 1
            count = readinto(buffers[current]) or 0


def copy_hashing(src: FileIO, fd: int, size: int, update: Callable[[memoryview], object], *,
                 durable: bool = False, small: int = COPY_CHUNK) -> None:
    """Copy the unbuffered file ``src`` (``size`` bytes by its stat) to ``fd``, feeding every
    byte to ``update`` on the way: one read, in the kernel where it can, else pipelined."""
    if size <= small:
        data = src.read()
        update(memoryview(data))
        write_all(fd, memoryview(data))
    elif not kernel_copy_hashing(src.fileno(), fd, size, update, durable=durable):
        pipelined_copy(src.readinto, fd, update, durable=durable)
