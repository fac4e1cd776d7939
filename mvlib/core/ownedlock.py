"""An owned lock: one process at a time holds it, says who it is, and a dead one is replaced.

mvlib's writers exclude each other with it: one process writes a run folder
(:mod:`mvlib.ml.runlock`), one generates a synthetic set (:mod:`mvlib.data.synth.lock`), one
writes a latent store part (:class:`mvlib.frontend.store.writer.StoreWriter`, not
re-entrant). Each is this lock with its own file names and messages::

    with owned_lock(lock_file, record_file, wait=True) as previous:
        ...  # nobody else holds lock_file meanwhile; ``previous`` is the last holder's record

The lock is a ``filelock`` lock (``flock``) on ``lock_file``. Its holder writes its PID, host
and start time (and any ``extra`` fields) to ``record_file``, so that another process can
name it. The record stays after a release, marked ``released`` (a record without that
mark whose process is gone is a holder that was killed: :func:`was_killed`).

**A dead holder.** A killed holder (``kill -9``, a node that went down) leaves no lock
behind: the kernel releases an ``flock`` lock with its last open descriptor. Should a
descriptor outlive its process (a forked child still running, a soft lock file), a holder
whose PID has exited on this host is taken over, by these rules:

* the same dead record must be seen on two polls in a row (:data:`POLL_S` apart), so that
  the record of a previous holder that a live new one has yet to replace is not mistaken
  for a dead holder;
* the takeover (check the record again, replace the lock file, take the new file's lock,
  write the new record) runs under a second, short-held lock (``<lock_file>.takeover``)
  that is never replaced, so that two waiters who both saw the dead holder do not both
  take over: the second finds the first's live record and waits for it;
* a process that locked the lock file the ordinary way checks that the file is still the
  one at the path and writes its record under that same guard, so that a takeover cannot
  replace the file between its check and its record.

A holder on another host is never judged dead (its PID means nothing here).

**Re-entrant** within a process: a nested ``owned_lock`` of the same file passes through.

**Network file systems.** On NFS, Linux emulates ``flock`` with POSIX (``fcntl``) locks,
which need the NFS lock service (``lockd``/``statd`` with NFSv3; built into NFSv4); then
processes on several hosts exclude each other. Without it, filelock falls back to a soft
lock file, which a crashed process leaves behind; mvlib then takes it over only on the host
that made it (a PID is checked on its own host only).
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import filelock

from mvlib.core.cache import atomic_write_json

#: seconds between two tries of a waiting process (it also checks for a dead holder)
POLL_S = 0.5

#: this process's held locks: resolved lock file -> [FileLock, depth]
_HELD: dict[Path, list] = {}


class LockBusy(Exception):
    """Another live process holds the lock; ``holder`` is its record (or None)."""

    def __init__(self, holder: dict | None, waited: bool):
        super().__init__(describe(holder))
        self.holder, self.waited = holder, waited


def read_record(record_file: str | os.PathLike) -> dict | None:
    """The recorded holder (``pid``, ``host``, ``since``, extras) of a lock, or None."""
    try:
        data = json.loads(Path(record_file).read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def describe(info: dict | None) -> str:
    """``PID 123 on host node7`` (or ``an unknown process``)."""
    if not info:
        return "an unknown process"
    return f"PID {info.get('pid')} on host {info.get('host')}"


def is_dead(info: dict | None) -> bool:
    """Is the recorded holder a process of this host (not this one) that has exited?"""
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
    try:  # a zombie (killed, not yet reaped by its parent) holds nothing
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[-1].split()[0] == "Z"
    except OSError:
        return False


def was_killed(info: dict | None) -> bool:
    """Did the recorded holder die holding the lock (no release recorded, PID gone)?"""
    return bool(info) and "released" not in info and is_dead(info)


def is_held(lock_file: str | os.PathLike) -> bool:
    """Does this process hold ``lock_file`` (through :func:`owned_lock`)?"""
    return Path(lock_file).resolve() in _HELD


@contextlib.contextmanager
def owned_lock(
    lock_file: str | os.PathLike,
    record_file: str | os.PathLike,
    *,
    wait: bool,
    timeout: float | None = None,
    extra: dict | None = None,
    on_wait: Callable[[dict | None], None] | None = None,
    on_takeover: Callable[[dict | None], None] | None = None,
    reentrant: bool = True,
) -> Iterator[dict | None]:
    """Hold ``lock_file`` while the block runs; yield the previous holder's record.

    Parameters
    ----------
    lock_file, record_file : paths (their folder must exist)
    wait : bool
        True: poll until the holder is gone; False: raise :class:`LockBusy` at once (after
        a second poll when the holder looks dead, to take it over).
    timeout : float, optional
        With ``wait``: give up after this many seconds with :class:`LockBusy`.
    extra : dict, optional
        More fields of this holder's record.
    on_wait, on_takeover : callables of the holder's record, optional
        Called once when this process starts waiting, and when it takes a dead holder over.
    reentrant : bool
        True: a nested lock of the same file in this process passes through. False: it is
        another holder (two writers of one store part in one process exclude each other).

    Raises
    ------
    LockBusy
        Another live process holds the lock (and ``wait`` is False, or ``timeout`` passed).
    """
    key = Path(lock_file).resolve()
    if key in _HELD and not reentrant:  # held by another owner in this process: wait
        _wait_in_process(key, Path(record_file), wait, timeout, on_wait)
    if key in _HELD:  # re-entrant within a process
        _HELD[key][1] += 1
        try:
            yield read_record(record_file)
        finally:
            _HELD[key][1] -= 1
        return
    lock, previous = _acquire(key, Path(record_file), wait, timeout, extra, on_wait, on_takeover)
    _HELD[key] = [lock, 1]
    try:
        yield previous
    finally:
        del _HELD[key]
        _mark_released(Path(record_file))
        lock.release()


def _wait_in_process(key: Path, record_file: Path, wait: bool, timeout, on_wait) -> None:
    """Wait until this process's other holder of ``key`` releases it (another thread)."""
    start = time.monotonic()
    if wait and on_wait is not None:
        on_wait(read_record(record_file))
    while key in _HELD:
        if not wait or (timeout is not None and time.monotonic() - start >= timeout):
            raise LockBusy(read_record(record_file), waited=wait)
        time.sleep(POLL_S)


def _acquire(path, record_file, wait, timeout, extra, on_wait, on_takeover):
    start, told, suspect = time.monotonic(), False, None
    while True:
        lock = filelock.FileLock(path, thread_local=False)
        try:
            lock.acquire(timeout=0)
        except filelock.Timeout:
            info = read_record(record_file)
            dead = is_dead(info)
            if dead and info == suspect:  # the same dead record on two polls in a row
                got = _take_over(path, record_file, info, extra)
                if got is not None:
                    if on_takeover is not None:
                        on_takeover(info)
                    return got, info
                suspect = None  # another waiter took it over first: wait for it
                continue
            suspect = info if dead else None
            out_of_time = timeout is not None and time.monotonic() - start >= timeout
            if (not wait and not dead) or out_of_time:
                raise LockBusy(info, waited=wait) from None
            if wait and not told and not dead and on_wait is not None:
                on_wait(info)
                told = True
            time.sleep(POLL_S)
            continue
        settled, previous = _settle(lock, path, record_file, extra)
        if settled:
            return lock, previous
        lock.release()  # replaced by a takeover while we opened it: try the new file


def _guard(path: Path) -> filelock.BaseFileLock:
    """The short-held lock (never replaced) under which a holder is settled or taken over."""
    return filelock.FileLock(path.with_name(path.name + ".takeover"), thread_local=False)


def _settle(lock, path: Path, record_file: Path, extra: dict | None) -> tuple[bool, dict | None]:
    """Become the holder of the file ``lock`` holds, unless a takeover replaced it.

    Under the guard: a waiter taking a dead holder over (:func:`_take_over`) reads the
    record, and replaces the lock file, only before or after this check and record write,
    never between them (else the file we just locked could be replaced after the check, and
    the taker and we would both hold "the" lock). Returns (settled, previous record).
    """
    with _guard(path):
        if not _same_file(lock, path):
            return False, None
        previous = read_record(record_file)
        _write_record(record_file, extra)
        return True, previous


def _take_over(path: Path, record_file: Path, dead: dict, extra: dict | None):
    """Replace a dead holder's lock file and take the new one; None if someone was first."""
    with _guard(path):
        if read_record(record_file) != dead:  # another waiter took over (or it finished)
            return None
        with contextlib.suppress(FileNotFoundError):
            path.unlink()  # the dead holder's descriptor keeps the old file
        lock = filelock.FileLock(path, thread_local=False)
        try:
            lock.acquire(timeout=0)
        except filelock.Timeout:  # a newcomer took the fresh file first: it is alive
            return None
        _write_record(record_file, extra)
        return lock


def _write_record(record_file: Path, extra: dict | None) -> None:
    record = {"pid": os.getpid(), "host": socket.gethostname(), "since": time.time()}
    atomic_write_json(record_file, {**record, **(extra or {})})


def _mark_released(record_file: Path) -> None:
    """Record a normal release, so that the next holder does not think this one was killed."""
    try:
        info = read_record(record_file)
        if info and info.get("pid") == os.getpid() and info.get("host") == socket.gethostname():
            atomic_write_json(record_file, {**info, "released": time.time()})
    except Exception:  # noqa: BLE001 - e.g. a release at interpreter shutdown (a __del__):
        pass  # the mark is a courtesy; without it the next holder only says "killed"


def _same_file(lock: filelock.BaseFileLock, path: Path) -> bool:
    """Does ``path`` still name the file whose lock we hold? (False after a takeover.)"""
    fd = getattr(getattr(lock, "_context", None), "lock_file_fd", None)
    if fd is None:
        return True  # a soft lock (no descriptor): nothing to compare
    try:
        return os.path.samestat(os.stat(path), os.fstat(fd))
    except OSError:
        return False
