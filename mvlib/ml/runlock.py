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

A dead holder is taken over and the run resumes from its last checkpoint; the rules
(two polls, a guarded takeover) and how the lock behaves on network file systems are
those of :mod:`mvlib.core.ownedlock`, which this module names for run folders.

The lock is re-entrant within a process (train inside a sweep worker's locked run), and
a process started by the holder while it holds the lock (papermill's kernel running
chapter 3 for a sweep worker) inherits it through ``$MVLIB_HELD_RUN_LOCKS``.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator
from pathlib import Path

from mvlib.core import ownedlock
from mvlib.core.errors import MvlibError

log = logging.getLogger(__name__)

LOCK_FILE = "run.lock"
HOLDER_FILE = "run.lock.json"
#: run folders whose lock an ancestor process holds (os.pathsep-separated absolute paths)
HELD_ENV = "MVLIB_HELD_RUN_LOCKS"


class RunBusyError(MvlibError):
    """Another process holds the run's lock; ``holder`` has its ``pid`` and ``host``."""

    def __init__(self, culprit, what: str, fix: str = "", holder: dict | None = None):
        super().__init__(culprit, what, fix)
        self.holder = holder or {}

    def __reduce__(self):  # picklable across worker processes
        return (type(self), (self.culprit, self.what, self.fix, self.holder))


def holds(run_dir: str | os.PathLike) -> bool:
    """Does this process hold the run's lock?"""
    return ownedlock.is_held(Path(run_dir) / LOCK_FILE)


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
    if holds(run_dir):  # re-entrant within a process
        with _owned(run_dir, wait, timeout):
            yield
        return
    if _inherited(key):  # the process that started this one holds it
        yield
        return
    if not create and not run_dir.is_dir():
        yield
        return
    run_dir.mkdir(parents=True, exist_ok=True)
    with _owned(run_dir, wait, timeout) as previous:
        if ownedlock.was_killed(previous):
            log.warning(
                "%s: the run's last writer (%s) was killed; resuming it",
                run_dir,
                ownedlock.describe(previous),
            )
        old_env = os.environ.get(HELD_ENV)
        os.environ[HELD_ENV] = os.pathsep.join(p for p in (old_env, str(key)) if p)
        try:
            yield
        finally:
            if old_env is None:
                os.environ.pop(HELD_ENV, None)
            else:
                os.environ[HELD_ENV] = old_env


@contextlib.contextmanager
def _owned(run_dir: Path, wait: bool, timeout: float | None):
    def waiting(info):
        log.warning(
            "%s: %s is writing this run; waiting for it to finish",
            run_dir,
            ownedlock.describe(info),
        )

    def takeover(info):
        log.warning(
            "%s: its lock holder (%s) no longer runs; taking the run over",
            run_dir,
            ownedlock.describe(info),
        )

    try:
        with ownedlock.owned_lock(
            run_dir / LOCK_FILE,
            run_dir / HOLDER_FILE,
            wait=wait,
            timeout=timeout,
            on_wait=waiting,
            on_takeover=takeover,
        ) as previous:
            yield previous
    except ownedlock.LockBusy as busy:
        raise _busy(run_dir, busy.holder, waited=busy.waited) from None


def _busy(run_dir: Path, info: dict | None, waited: bool) -> RunBusyError:
    who = ownedlock.describe(info)
    return RunBusyError(
        run_dir,
        f"another process ({who}) is training this run" + (" (waited)" if waited else ""),
        "wait for it to finish and run again (a finished run is reused; `mvlib train` "
        "waits unless --no-wait), or train another --run-dir",
        holder=info,
    )
