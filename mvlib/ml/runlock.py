"""One writer per run folder: the run lock.

Whatever writes a run folder (``mvlib train``, a sweep worker, chapter 3, ``mvlib probe``,
rank 0 of a torchrun job) holds the run's lock while it writes::

    with run_lock(run_dir, wait=True):
        ...  # train, probe: nobody else writes this folder meanwhile

The lock is a ``filelock`` lock (``flock``) on ``<run>/run.lock``; its holder records its
PID, host and start time in ``<run>/run.lock.json``, so that a second process can say
who holds it. A second process either waits (``wait=True``; it then finds the run
finished and reuses it, as the sweep skips finished runs) or stops at once with
:class:`RunBusyError` (``wait=False``), one line naming the holder's PID and host.

A killed holder (``kill -9``, a node that went down) leaves no lock behind: the kernel
releases an ``flock`` lock with its last open descriptor. Should a descriptor outlive its
process (a forked child still running), a holder whose PID is no longer alive on this host
is taken over: its lock file is replaced and the run resumes from its last checkpoint.

The lock is re-entrant within a process (train inside a sweep worker's locked run), and
a process started by the holder while it holds the lock (papermill's kernel running
chapter 3 for a sweep worker) inherits it through ``$MVLIB_HELD_RUN_LOCKS``.

Network file systems: on NFS, Linux emulates ``flock`` with POSIX (``fcntl``) locks,
which need the NFS lock service (``lockd``/``statd`` with NFSv3; built into NFSv4).
Without it, filelock falls back to a soft lock file, which a crashed process leaves
behind; mvlib then takes it over only on the host that made it.
"""

from __future__ import annotations

import contextlib
import errno
import json
import logging
import os
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import filelock

from mvlib.core.cache import atomic_write_json
from mvlib.core.errors import MvlibError

log = logging.getLogger(__name__)

LOCK_FILE = "run.lock"
HOLDER_FILE = "run.lock.json"
#: run folders whose lock an ancestor process holds (os.pathsep-separated absolute paths)
HELD_ENV = "MVLIB_HELD_RUN_LOCKS"
#: seconds between two tries of a waiting process (it also checks for a dead holder)
POLL_S = 0.5


class RunBusyError(MvlibError):
    """Another process holds the run's lock; ``holder`` has its ``pid`` and ``host``."""

    def __init__(self, culprit, what: str, fix: str = "", holder: dict | None = None):
        super().__init__(culprit, what, fix)
        self.holder = holder or {}

    def __reduce__(self):  # picklable across worker processes
        return (type(self), (self.culprit, self.what, self.fix, self.holder))


#: this process's held run locks: resolved run folder -> [FileLock, depth]
_HELD: dict[Path, list] = {}


def holder(run_dir: str | os.PathLike) -> dict | None:
    """The recorded holder of a run's lock (``pid``, ``host``, ``since``), or None.

    The record stays after a release; only a held lock makes it current.
    """
    try:
        data = json.loads((Path(run_dir) / HOLDER_FILE).read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def describe_holder(info: dict | None) -> str:
    """``PID 123 on host node7`` (or ``an unknown process``)."""
    if not info:
        return "an unknown process"
    return f"PID {info.get('pid')} on host {info.get('host')}"


def is_stale(info: dict | None) -> bool:
    """Is the recorded holder a process of this host that no longer runs?"""
    if not info or info.get("host") != socket.gethostname():
        return False
    try:
        pid = int(info["pid"])
    except (KeyError, TypeError, ValueError):
        return False
    return not _alive(pid)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except OSError as e:
        return e.errno == errno.EPERM  # alive, another user's
    # a zombie (killed, not yet reaped by its parent) no longer holds anything
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[-1].split()[0] != "Z"
    except OSError:
        return True


def _inherited(key: Path) -> bool:
    held = os.environ.get(HELD_ENV, "")
    return str(key) in held.split(os.pathsep) if held else False


@contextlib.contextmanager
def run_lock(
    run_dir: str | os.PathLike, *, wait: bool, timeout: float | None = None, create: bool = True
) -> Iterator[None]:
    """Hold the lock of ``run_dir`` (created if missing) while the block runs.

    Parameters
    ----------
    run_dir : the run folder
    wait : bool
        True: wait for another holder to finish (saying once who it is, on the log);
        False: raise :class:`RunBusyError` at once when another process holds it.
    timeout : float, optional
        With ``wait``: give up after this many seconds with :class:`RunBusyError`.
    create : bool
        Make a missing run folder (a new run); False: a missing folder is not locked (the
        caller then reports it missing, and mvlib creates no folder the user did not ask for).

    Raises
    ------
    RunBusyError
        Another live process holds the lock (and ``wait`` is False, or ``timeout`` passed).
    """
    run_dir = Path(run_dir)
    key = run_dir.resolve()
    if key in _HELD:  # re-entrant within a process
        _HELD[key][1] += 1
        try:
            yield
        finally:
            _HELD[key][1] -= 1
        return
    if _inherited(key):  # the process that started this one holds it
        yield
        return
    if not create and not run_dir.is_dir():
        yield
        return
    run_dir.mkdir(parents=True, exist_ok=True)
    lock = _acquire(run_dir, wait, timeout)
    _HELD[key] = [lock, 1]
    old_env = os.environ.get(HELD_ENV)
    os.environ[HELD_ENV] = os.pathsep.join(p for p in (old_env, str(key)) if p)
    try:
        yield
    finally:
        del _HELD[key]
        if old_env is None:
            os.environ.pop(HELD_ENV, None)
        else:
            os.environ[HELD_ENV] = old_env
        lock.release()


def _acquire(run_dir: Path, wait: bool, timeout: float | None) -> filelock.BaseFileLock:
    path = run_dir / LOCK_FILE
    start, told = time.monotonic(), False
    while True:
        lock = filelock.FileLock(path, thread_local=False)
        try:
            lock.acquire(timeout=0)
        except filelock.Timeout:
            info = holder(run_dir)
            if is_stale(info):
                log.warning(
                    "%s: its lock holder (%s) no longer runs; taking the run over",
                    run_dir,
                    describe_holder(info),
                )
                with contextlib.suppress(FileNotFoundError):
                    path.unlink()  # the dead holder's descriptor keeps the old file
                continue
            if not wait or (timeout is not None and time.monotonic() - start >= timeout):
                raise _busy(run_dir, info, waited=wait) from None
            if not told:
                log.warning(
                    "%s: %s is writing this run; waiting for it to finish",
                    run_dir,
                    describe_holder(info),
                )
                told = True
            time.sleep(POLL_S)
            continue
        if not _same_file(lock, path):  # replaced by a takeover while we opened it
            lock.release()
            continue
        before = holder(run_dir)
        if before and is_stale(before) and not (run_dir / "done.json").exists():
            log.warning(
                "%s: the run's last writer (%s) was killed; resuming it",
                run_dir,
                describe_holder(before),
            )
        atomic_write_json(
            run_dir / HOLDER_FILE,
            {"pid": os.getpid(), "host": socket.gethostname(), "since": time.time()},
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


def _busy(run_dir: Path, info: dict | None, waited: bool) -> RunBusyError:
    who = describe_holder(info)
    return RunBusyError(
        run_dir,
        f"another process ({who}) is training this run" + (" (waited)" if waited else ""),
        "wait for it to finish and run again (a finished run is reused; `mvlib train` "
        "waits unless --no-wait), or train another --run-dir",
        holder=info,
    )
