"""One writer per synthetic set: the generation lock.

Whatever generates a set (``mvlib synth``, :func:`mvlib.data.dataset.ensure_dataset` for
``train``, ``extract``, a sweep worker, a chapter) holds the set's lock while it decides what
the folder is and writes it::

    with generation_lock(out):
        ...  # folder_state(out) and generate: nobody else writes this set meanwhile

A second process waits (saying once, on the log, who generates the set), then finds the set
finished and uses it: it never sees a set half-written, so it never calls it foreign.

The lock is a ``filelock`` lock (``flock``) in the cache, ``<cache>/locks/datasets/<name>-
<hash of the folder's resolved path>.lock``, never in the dataset folder (a user's folder
stays unwritten; a set being generated holds only the generator's files). Its holder records
its PID, host and start time beside it (``.lock.json``). A killed holder (``kill -9``) leaves
no lock behind: the kernel releases an ``flock`` lock with its last descriptor, and the next
generation resumes the interrupted set (valid wavs are kept). A holder whose PID no longer
runs on this host is taken over also where the lock outlived it (a soft lock file).

The lock is re-entrant within a process (``generate`` inside ``ensure_dataset``).

Network file systems: on NFS, Linux emulates ``flock`` with POSIX (``fcntl``) locks, which
need the NFS lock service (``lockd``/``statd`` with NFSv3; built into NFSv4). Processes on
several hosts exclude each other only when they share the cache (``MVLIB_CACHE``).
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import logging
import os
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import filelock

from mvlib.core.cache import atomic_write_json, cache_dir

log = logging.getLogger(__name__)

#: seconds between two tries of a waiting process (it also checks for a dead holder)
POLL_S = 0.5

#: this process's held generation locks: lock file -> [FileLock, depth]
_HELD: dict[Path, list] = {}


def lock_path(out: str | os.PathLike) -> Path:
    """The lock file of the set in folder ``out`` (in the cache, named by the folder)."""
    resolved = Path(out).expanduser().resolve()
    digest = hashlib.sha256(str(resolved).encode()).hexdigest()[:12]
    return cache_dir("locks", "datasets") / f"{resolved.name}-{digest}.lock"


def holder(lock: Path) -> dict | None:
    """The recorded holder of a lock (``pid``, ``host``, ``since``, ``folder``), or None."""
    try:
        data = json.loads(lock.with_suffix(".lock.json").read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _describe(info: dict | None) -> str:
    if not info:
        return "another process"
    return f"PID {info.get('pid')} on host {info.get('host')}"


def _stale(info: dict | None) -> bool:
    """Is the recorded holder a process of this host that no longer runs?"""
    if not info or info.get("host") != socket.gethostname():
        return False
    try:
        pid = int(info["pid"])
    except (KeyError, TypeError, ValueError):
        return False
    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except OSError as e:
        return e.errno != errno.EPERM  # EPERM: alive, another user's
    try:  # a zombie (killed, not yet reaped) holds nothing
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[-1].split()[0] == "Z"
    except OSError:
        return False


@contextlib.contextmanager
def generation_lock(out: str | os.PathLike) -> Iterator[None]:
    """Hold the generation lock of the set in folder ``out`` while the block runs.

    Waits for another process that holds it (a set being generated), saying once who it is.
    """
    path = lock_path(out)
    if path in _HELD:  # re-entrant within a process
        _HELD[path][1] += 1
        try:
            yield
        finally:
            _HELD[path][1] -= 1
        return
    lock = _acquire(path, Path(out))
    _HELD[path] = [lock, 1]
    try:
        yield
    finally:
        del _HELD[path]
        lock.release()


def _acquire(path: Path, out: Path) -> filelock.BaseFileLock:
    told, suspect = False, None
    while True:
        lock = filelock.FileLock(path, thread_local=False)
        try:
            lock.acquire(timeout=0)
        except filelock.Timeout:
            info = holder(path)
            # a dead holder's record, seen on two tries in a row: not the record of a
            # previous holder that a live new one (just started) has yet to replace
            dead = _stale(info)
            if dead and info == suspect:
                log.warning(
                    "%s: its generator (%s) no longer runs; taking the set over",
                    out,
                    _describe(info),
                )
                with contextlib.suppress(FileNotFoundError):
                    path.unlink()  # the dead holder's descriptor keeps the old file
                continue
            suspect = info if dead else None
            if not told and not dead:
                log.warning(
                    "%s: %s is generating this dataset; waiting for it to finish",
                    out,
                    _describe(info),
                )
                told = True
            time.sleep(POLL_S)
            continue
        if not _same_file(lock, path):  # replaced by a takeover while we opened it
            lock.release()
            continue
        atomic_write_json(
            path.with_suffix(".lock.json"),
            {
                "pid": os.getpid(),
                "host": socket.gethostname(),
                "since": time.time(),
                "folder": str(out.expanduser().resolve()),
            },
        )
        return lock


def _same_file(lock: filelock.BaseFileLock, path: Path) -> bool:
    """Does ``path`` still name the file whose lock we hold? (False after a takeover.)"""
    fd = getattr(getattr(lock, "_context", None), "lock_file_fd", None)
    if fd is None:
        return True  # a soft lock (no descriptor): nothing to compare
    try:
        return os.path.samestat(os.stat(path), os.fstat(fd))
    except OSError:
        return False
