"""Storing many small files from two processes: a forked child takes a share of them while the parent reads the rest.

Per small file, an add is a few system calls and a hash (~30 µs), almost all of it holding Python's GIL, so a second
thread only adds hand-over costs; a second process really runs on the second core. The child inherits the open blob
store (inside :meth:`~keel.artifacts.local_objects.LocalObjects.bulk`), stores its files into a pack of its own,
finishes that pack (synced, then named), and sends back ``(digest, size, stat key after reading)`` per file over a
pipe. The child imports nothing and touches nothing but the files, the store and the pipe (the parent may have other
threads running: see :meth:`ChildReader.__init__`), and leaves with ``os._exit``, running none of the parent's
cleanup. A failure in the child comes back as the same :class:`~keel.errors.KeelError` class and message; a child that
dies without answering is an error naming its exit status. If the parent stops early, the child is killed and its
unfinished pack removed.
"""

from __future__ import annotations

import contextlib
import glob
import marshal
import os
import signal
import sys
import uuid
import warnings
from collections.abc import Sequence

from keel import errors
from keel.artifacts.local_objects import LocalObjects
from keel.artifacts.storage import TEMP_PREFIX
from keel.data.statcache import StatKey, stat_key
from keel.errors import KeelError

__all__ = ["FORK_MIN", "ChildReader", "can_fork"]

FORK_MIN = 2000
"""Below this many small files to store, forking (a few ms) is not worth it."""


def can_fork() -> bool:
    """Whether a child reader can help here: Linux (fork is cheap and safe enough there) and a second core."""
    return sys.platform == "linux" and hasattr(os, "fork") and len(os.sched_getaffinity(0)) > 1


class ChildReader:
    """A forked child storing ``files`` (path, size) into ``local``'s store; :meth:`results` waits for it."""

    def __init__(self, local: LocalObjects, files: Sequence[tuple[str, int]]) -> None:
        self.count = len(files)
        self.tmp = f"{TEMP_PREFIX}{uuid.uuid4().hex[:16]}-"
        self._packs = local.packs.folder
        read, write = os.pipe()
        with warnings.catch_warnings():  # Python >= 3.12 warns on fork with threads; the child only runs _child
            warnings.simplefilter("ignore", DeprecationWarning)
            pid = os.fork()
        if pid == 0:  # the child: never returns (os._exit)
            os.close(read)
            _child(local, files, self.tmp, write)
        os.close(write)
        self.pid: int | None = pid
        self._read = read

    def results(self) -> list[tuple[str, int, StatKey]]:
        """Per file, in order: ``(digest, size, stat key after reading)``; the child's error re-raised here."""
        if self.pid is None:
            raise RuntimeError("ChildReader.results() was already called")
        try:
            chunks = []
            while chunk := os.read(self._read, 1 << 20):
                chunks.append(chunk)
            _, status = os.waitpid(self.pid, 0)
            self.pid = None
        finally:
            self.stop()
        raw = b"".join(chunks)
        if not raw:
            raise KeelError(f"the child process storing {self.count:,} files stopped without an answer (wait status "
                            f"{status}); add the data again")
        answer = marshal.loads(raw)
        if answer[0] != "ok":
            _, kind, message, field = answer
            cls = getattr(errors, kind, None)
            raise (cls if isinstance(cls, type) and issubclass(cls, KeelError) else KeelError)(message, field=field)
        return [(digest, size, (key[0], key[1], key[2])) for digest, size, key in answer[1]]

    def stop(self) -> None:
        """Kill the child if it still runs, reap it, and remove its unfinished pack (idempotent)."""
        if self.pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGKILL)
            os.waitpid(self.pid, 0)
            self.pid = None
            for path in glob.glob(os.path.join(glob.escape(self._packs), glob.escape(self.tmp) + "*")):
                with contextlib.suppress(OSError):
                    os.unlink(path)
        if self._read >= 0:
            os.close(self._read)
            self._read = -1


def _child(local: LocalObjects, files: Sequence[tuple[str, int]], tmp: str, write: int) -> None:
    status = 1
    try:
        try:
            local.after_fork(tmp)
            out = []
            for path, size in files:
                digest, done, after = local.put_file(path, size)
                out.append((digest, done, stat_key(after)))
            local.flush()
            payload = marshal.dumps(("ok", out))
            status = 0
        except KeelError as exc:
            local.drop_pack()
            payload = marshal.dumps(("error", type(exc).__name__, exc.message, exc.field))
        except BaseException as exc:  # noqa: BLE001 - whatever it is, the parent must hear of it
            local.drop_pack()
            payload = marshal.dumps(("error", "KeelError", f"{type(exc).__name__}: {exc}", None))
        view = memoryview(payload)
        while view:
            view = view[os.write(write, view):]
    finally:
        os._exit(status)
