"""The fast path for a blob store on the local filesystem: objects written with plain ``os`` calls.

:class:`LocalObjects` stores a local file in one pass and names the object by the digest of the very bytes it
wrote, so what lands under ``objects/ab/cdef…`` always hashes to its name:

* a small file (below :data:`BIG_FILE`) is read once into memory, hashed, and written from that same buffer;
* a big file is read into a few reused, page-aligned buffers; each is hashed while it is written to the temp object
  with ``O_DIRECT`` and the next one is read. The object's bytes take no page cache (fresh cache is slow to allocate
  where freed memory goes back to a VM's host) and are on disk once written, so the final ``fdatasync`` waits for
  little. Where ``O_DIRECT`` is missing or refused, the file is copied in the kernel instead (``copy_file_range``)
  and the copy hashed from a memory map behind it, each copied chunk's writeback started at once.

Inside :meth:`LocalObjects.bulk` (an add of many files), objects below :data:`PACK_OBJECT` go into one pack file
instead of one file each (see :mod:`keel.artifacts.packs`); reads find them there when no loose object exists.

In every case the object appears by ``os.replace`` from a temp name (all or nothing), and it is made durable before
:meth:`~keel.artifacts.storage.FsspecStorage.deferred_sync` returns: big objects are synced on their own (a global
``sync`` would also flush the caller's own freshly written source files), small ones by the one ``sync`` at the end.
A source that changes size while it is read raises :class:`~keel.errors.Conflict`; :meth:`LocalObjects.put_file`
returns the source's stat after reading so that callers holding an earlier stat can check nothing else moved.
"""

from __future__ import annotations

import contextlib
import errno
import itertools
import mmap
import os
import threading
import uuid
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor

import blake3

from keel.artifacts.direct_io import ALIGN, NO_DIRECT, O_DIRECT, fsync_dir, pwrite_all, pwrite_plain
from keel.artifacts.packs import PACK_DIR, PACK_LIMIT, PackEntry, PackIndex, PackWriter
from keel.artifacts.storage import TEMP_PREFIX, FsspecStorage, local_error
from keel.errors import Conflict

__all__ = ["BIG_FILE", "PACK_OBJECT", "LocalObjects"]

BIG_FILE = 8 << 20
"""Files at least this big are streamed through aligned buffers with O_DIRECT (or copied in the kernel); smaller
ones are read into memory at once."""

PACK_OBJECT = 1 << 20
"""Inside :meth:`LocalObjects.bulk` with packing on, objects smaller than this go into a pack file."""

_FANOUT = [f"{i:02x}" for i in range(256)]
_DIRECT_CHUNK = 16 << 20  # O_DIRECT pipeline step, a multiple of ALIGN; up to three buffers this size per file
_O_DIRECT = O_DIRECT  # 0: no such flag here, always copy in the kernel (a module name: tests turn it off)
_CHUNK = 64 << 20  # copy/hash pipeline step: big enough for multithreaded hashing, small enough to overlap
_NO_KERNEL_COPY = {errno.EXDEV, errno.ENOSYS, errno.EOPNOTSUPP, errno.EINVAL, errno.EBADF, errno.ETXTBSY}
_READ = os.O_RDONLY | getattr(os, "O_CLOEXEC", 0)
_WRITE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)


class LocalObjects:
    """Writes objects of a local :class:`~keel.artifacts.storage.FsspecStorage` root directly (thread-safe)."""

    def __init__(self, storage: FsspecStorage) -> None:
        if not storage.is_local:
            raise ValueError(f"{storage.url} is not a local root")
        self.storage = storage
        self.objects = os.path.join(storage.root, "objects")
        self._dirs: set[str] = set()
        self._fresh: set[str] = set()  # fan-out folders this instance created (see exists)
        self._written: set[str] = set()  # digests of the objects it stored in them
        self._tmp = f"{TEMP_PREFIX}{uuid.uuid4().hex[:16]}-"
        self._serial = itertools.count()  # next() on a count is atomic under the GIL
        self.packs = PackIndex(os.path.join(storage.root, PACK_DIR))
        self._bulk = False
        self._assumed: frozenset[str] = frozenset()  # in bulk: fan-out folders missing when it began (see exists)
        self._packing = False
        self._packer: PackWriter | None = None
        self._pack_lock = threading.Lock()

    def path(self, digest: str) -> str:
        """Absolute path of the object named ``digest`` (a checked, lower-case BLAKE3 hex digest)."""
        return f"{self.objects}/{digest[:2]}/{digest[2:]}"

    def exists(self, digest: str) -> bool:
        """Whether the object is stored, loose (one ``access``: no exception raised for the usual "no") or packed.

        In a fan-out folder this instance created, or (during :meth:`bulk`) one missing when the bulk began, no
        ``access``: only what it wrote can be there (another writer's object answers False, and is written again,
        harmlessly; a first add into an empty store saves 50,000 lookups). Outside a bulk, a miss looks for packs
        added since the last look (one ``stat`` of their folder)."""
        final = self.path(digest)
        folder = final[:-62]
        if folder in self._fresh or folder in self._assumed:
            if digest in self._written:
                return True
        elif os.access(final, os.F_OK):
            return True
        return self.packs.get(digest, refresh=not self._bulk) is not None

    def packed(self, digest: str) -> PackEntry | None:
        """Where ``digest`` is packed (looking for new packs first if it is not known), else None."""
        return self.packs.get(digest)

    @contextlib.contextmanager
    def bulk(self, pack: bool) -> Iterator[None]:
        """A bulk add: existence answered from one look at the store, and with ``pack``, objects below
        :data:`PACK_OBJECT` written into pack files, which are finished (synced, then named) when the block ends
        normally and dropped, with their objects, when it raises. Not re-entrant; ``put_file`` may be called from
        several threads inside it."""
        if self._bulk:
            raise RuntimeError("LocalObjects.bulk() is already active")
        try:
            present = set(os.listdir(self.objects))
        except FileNotFoundError:
            present = set()
        with self.storage.mapped_errors(PACK_DIR):
            self.packs.refresh()
        self._assumed = frozenset(f"{self.objects}/{h}/" for h in _FANOUT if h not in present)
        self._bulk, self._packing = True, pack
        try:
            yield
            self.flush()
        except BaseException:
            self.drop_pack()
            raise
        finally:
            self._packer, self._bulk, self._packing, self._assumed = None, False, False, frozenset()

    def flush(self) -> None:
        """Finish the pack under way, if any: synced, then named (its objects are stored once this returns)."""
        with self._pack_lock, self.storage.mapped_errors(PACK_DIR):
            self._finish_pack()

    def drop_pack(self) -> None:
        """Drop the pack under way, if any, with its objects (they count as missing again)."""
        with self._pack_lock:
            if self._packer is not None:
                self._written.difference_update(self._packer.entries)
                self._packer.discard()
                self._packer = None

    def after_fork(self, tmp_prefix: str) -> None:
        """In a child process forked inside :meth:`bulk`: its own temp names, its own pack, a fresh lock."""
        self._tmp, self._serial = tmp_prefix, itertools.count()
        self._pack_lock = threading.Lock()
        self._packer = None

    def put_file(self, src: str | os.PathLike[str], size: int | None = None) -> tuple[str, int, os.stat_result]:
        """Store the local file ``src`` (unless its object exists): ``(digest, size, stat after reading)``.

        ``size`` is the size the caller saw (saves a ``stat``); compare the returned stat with the caller's own to
        know the bytes stored are the file it meant. Conflict if the file changes size while it is read.
        """
        try:
            fd = os.open(src, _READ)
        except OSError as exc:
            raise local_error(src, exc) from exc
        try:  # no context managers here: this runs once per file, 50,000 times for a folder of samples
            expected = os.fstat(fd).st_size if size is None else size
            if expected >= BIG_FILE:
                digest, done = self._copy_big(fd, expected, os.fspath(src))
            else:
                digest, done = self._put_small(fd, expected)
            after = os.fstat(fd)
        except OSError as exc:  # the store's own failures arrive as KeelErrors already
            raise local_error(src, exc) from exc
        finally:
            os.close(fd)
        if after.st_size != done:
            raise Conflict(f"{os.fspath(src)!r} changed size while it was being stored; add it again once nothing "
                           "writes to it")
        return digest, done, after

    # -- small files: one read, one hash, one write of the same buffer ---------------------------------------

    def _put_small(self, fd: int, size: int) -> tuple[str, int]:
        data = os.read(fd, size + 1)  # a short read of a regular file means end of file: no second read
        if len(data) > size:
            data += _read_rest(fd)
        digest = blake3.blake3(data).hexdigest()
        if not self.exists(digest):
            if self._packing and len(data) < PACK_OBJECT:
                self._pack(digest, data)
            else:
                self._write_new(digest, data)
        return digest, len(data)

    def _pack(self, digest: str, data: bytes) -> None:
        """Append to this bulk's pack (under a lock: a pack is finished only once no write into it is under way)."""
        self._pack_lock.acquire()  # no context managers: this runs once per file
        try:
            if digest in self._written:
                return
            if self._packer is not None and self._packer.size + len(data) > PACK_LIMIT:
                self._finish_pack()
            if self._packer is None:
                self._packer = PackWriter(self.packs.folder, f"{self._tmp}{next(self._serial)}")
            self._packer.add(digest, data)
            self._written.add(digest)
        except OSError as exc:
            raise self.storage.error(PACK_DIR, exc) from exc
        finally:
            self._pack_lock.release()

    def _finish_pack(self) -> None:
        if self._packer is not None:
            packer, self._packer = self._packer, None
            try:
                self.packs.add(*packer.finish())
            except BaseException:
                self._written.difference_update(packer.entries)
                packer.discard()
                raise

    def _write_new(self, digest: str, data: bytes) -> None:
        final = self.path(digest)
        parent = final[:-62]  # ".../objects/ab/"
        tmp = f"{parent}{self._tmp}{next(self._serial)}"
        try:
            if parent not in self._dirs:
                self._ensure_dir(parent)
            fd = os.open(tmp, _WRITE, 0o666)
            try:
                if (written := os.write(fd, data)) < len(data):  # the rest from where the short write stopped
                    pwrite_all(fd, data, written, len(data), written)
                sync_now = self.storage.sync_now(len(data))
                if sync_now:
                    os.fsync(fd)
            finally:
                os.close(fd)
            os.replace(tmp, final)
            self._written.add(digest)
        except OSError as exc:
            _discard(tmp)
            raise self.storage.error(f"objects/{digest[:2]}/{digest[2:]}", exc) from exc
        except BaseException:
            _discard(tmp)
            raise
        if sync_now:
            fsync_dir(parent)

    def _ensure_dir(self, parent: str) -> None:
        try:
            os.mkdir(parent)
        except FileExistsError:
            pass
        except FileNotFoundError:  # the folders above are new too
            os.makedirs(os.path.dirname(parent.rstrip("/")), exist_ok=True)
            return self._ensure_dir(parent)
        else:
            self._fresh.add(parent)
        self._dirs.add(parent)

    # -- big files: read into aligned buffers, hashed, written with O_DIRECT (else a kernel copy) ------------

    def _copy_big(self, src_fd: int, size: int, src: str) -> tuple[str, int]:
        with self.storage.mapped_errors("objects"):
            self._ensure_dir(self.objects)
            tmp = f"{self.objects}/{self._tmp}{next(self._serial)}"
            try:
                digest = _direct_hashed(src_fd, tmp, size, src) if _O_DIRECT else None
                if digest is None:  # no O_DIRECT on this system or filesystem
                    digest = self._copy_hashed(src_fd, tmp, size, src)
                final = self.path(digest)
                if os.access(final, os.F_OK):
                    os.unlink(tmp)
                    return digest, size
                self._ensure_dir(final[:-62])
                os.replace(tmp, final)
                self._written.add(digest)
            except BaseException:
                with contextlib.suppress(OSError):
                    os.unlink(tmp)
                raise
            for folder in (final[:-62], self.objects, self.storage.root):  # the rename, and any new directory
                fsync_dir(folder)
        return digest, size

    def _copy_hashed(self, src_fd: int, tmp: str, size: int, src: str) -> str:
        hasher = blake3.blake3(max_threads=blake3.blake3.AUTO)
        fd = os.open(tmp, _WRITE & ~os.O_WRONLY | os.O_RDWR, 0o666)
        try:
            os.ftruncate(fd, size)
            steps = [(off, min(_CHUNK, size - off)) for off in range(0, size, _CHUNK)]
            with mmap.mmap(fd, size, access=mmap.ACCESS_READ) as mapped, ThreadPoolExecutor(1) as copier:
                view = memoryview(mapped)
                try:
                    pending = copier.submit(_copy_range, src_fd, fd, *steps[0], src)
                    for i, (off, count) in enumerate(steps):
                        pending.result()
                        if i + 1 < len(steps):
                            pending = copier.submit(_copy_range, src_fd, fd, *steps[i + 1], src)
                        hasher.update(view[off:off + count])
                        _start_writeback(fd, off, count)
                finally:
                    view.release()
            os.fdatasync(fd)  # a big object is synced on its own, see the module docstring
        finally:
            os.close(fd)
        return str(hasher.hexdigest())


def _direct_hashed(src_fd: int, tmp: str, size: int, src: str) -> str | None:
    """Digest of ``size`` bytes of ``src_fd`` written to the new file ``tmp`` with O_DIRECT and synced; None (and no
    ``tmp``) if the filesystem refuses O_DIRECT. Reading the next step and writing this one overlap its hash."""
    try:
        fd = os.open(tmp, _WRITE | _O_DIRECT, 0o666)
    except OSError as exc:
        if exc.errno not in NO_DIRECT:
            raise
        _discard(tmp)  # the file may be created before the flag is refused
        return None
    hasher = blake3.blake3(max_threads=blake3.blake3.AUTO)
    step = min(_DIRECT_CHUNK, -(-size // ALIGN) * ALIGN)
    steps = [(off, min(step, size - off)) for off in range(0, size, step)]
    bufs: list[mmap.mmap] = []
    writes: list[Future[None]] = []
    reader, writer = ThreadPoolExecutor(1), ThreadPoolExecutor(1)
    try:
        bufs += [mmap.mmap(-1, step) for _ in range(min(3, len(steps)))]  # anonymous maps are page aligned
        reading = reader.submit(_read_into, src_fd, bufs[0], *steps[0], src)
        for i, (off, count) in enumerate(steps):
            reading.result()
            if i + 1 < len(steps):
                if i + 1 >= len(bufs):  # the buffer to read into next is free once its last write is done
                    writes[i + 1 - len(bufs)].result()
                reading = reader.submit(_read_into, src_fd, bufs[(i + 1) % len(bufs)], *steps[i + 1], src)
            buf, aligned = bufs[i % len(bufs)], count - count % ALIGN
            writes.append(writer.submit(pwrite_all, fd, buf, 0, aligned, off))
            with memoryview(buf) as view, view[:count] as chunk:
                hasher.update(chunk)
        for write in writes:
            write.result()
        if aligned < count:  # the unaligned end of the file goes through the page cache
            pwrite_plain(tmp, buf, aligned, count, off + aligned)
        os.fdatasync(fd)  # syncs the file, whichever fd wrote: the tail, its size and extents (the rest is on disk)
        return str(hasher.hexdigest())
    except OSError as exc:  # the first write refused: this filesystem takes O_DIRECT at open but not in writes
        if exc.errno not in NO_DIRECT or not writes or writes[0].exception() is not exc:
            raise
        _discard(tmp)
        return None
    finally:
        reader.shutdown(cancel_futures=True)  # waits for a read or write under way: the buffers are free after
        writer.shutdown(cancel_futures=True)
        for mapped in bufs:
            mapped.close()
        os.close(fd)


def _read_into(fd: int, buf: mmap.mmap, offset: int, count: int, src: str) -> None:
    """Fill ``buf[:count]`` from ``offset`` of ``fd``; Conflict if the file ends before."""
    done = 0
    with memoryview(buf) as view:  # views released even on an error, else the buffer could not be closed
        while done < count:
            with view[done:count] as part:
                got = os.preadv(fd, [part], offset + done)
            if got == 0:
                raise Conflict(f"{src!r} shrank while it was being stored; add it again once nothing writes to it")
            done += got


def _discard(path: str) -> None:
    with contextlib.suppress(OSError):
        os.unlink(path)


def _read_rest(fd: int) -> bytes:
    parts = []
    while chunk := os.read(fd, 1 << 20):
        parts.append(chunk)
    return b"".join(parts)


def _copy_range(src_fd: int, dst_fd: int, offset: int, count: int, src: str) -> None:
    """Copy ``count`` bytes at ``offset`` of ``src_fd`` to the same offset of ``dst_fd`` (in the kernel if it can)."""
    end = offset + count
    while offset < end:
        try:
            done = os.copy_file_range(src_fd, dst_fd, end - offset, offset, offset)
        except (OSError, AttributeError) as exc:  # no copy_file_range here (another OS, or across filesystems)
            if isinstance(exc, OSError) and exc.errno not in _NO_KERNEL_COPY:
                raise
            done = _copy_buffered(src_fd, dst_fd, offset, end - offset)
        if done == 0:
            raise Conflict(f"{src!r} shrank while it was being stored; add it again once nothing writes to it")
        offset += done


def _copy_buffered(src_fd: int, dst_fd: int, offset: int, count: int) -> int:
    data = os.pread(src_fd, min(count, 8 << 20), offset)
    pwrite_all(dst_fd, data, 0, len(data), offset)
    return len(data)


def _start_writeback(fd: int, offset: int, count: int) -> None:
    """Ask the kernel to start writing these (already hashed) pages to disk now and to drop them afterwards."""
    advise = getattr(os, "posix_fadvise", None)
    if advise is not None:
        with contextlib.suppress(OSError):
            advise(fd, offset, count, os.POSIX_FADV_DONTNEED)
