"""The run lock (mvlib.ml.runlock): one writer per run folder, holders named, dead ones replaced."""

import fcntl
import json
import logging
import multiprocessing
import os
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path

import pytest

from mvlib.core import ownedlock
from mvlib.ml import runlock
from mvlib.ml.runlock import RunBusyError, run_lock

_FORK = multiprocessing.get_context("fork")  # a child without a fresh interpreter: fast


def _hold(run: str, started, stop) -> None:  # in a forked child: a fresh process's state
    ownedlock._HELD.clear()
    with run_lock(run, wait=True):
        started.set()
        stop.wait(120)


class _Holder:
    """Another process holding the run's lock until :meth:`release`."""

    def __init__(self, run: Path):
        self.started, self.stop = _FORK.Event(), _FORK.Event()
        self.proc = _FORK.Process(target=_hold, args=(str(run), self.started, self.stop))
        self.proc.start()
        assert self.started.wait(60), "the holder did not get the lock"
        self.pid = self.proc.pid

    def release(self) -> None:
        self.stop.set()
        self.proc.join(60)
        assert self.proc.exitcode == 0

    def kill(self) -> None:
        os.kill(self.pid, signal.SIGKILL)
        self.proc.join(60)


def _try(run: str, queue) -> None:  # in a forked child: wait=False, report the outcome
    ownedlock._HELD.clear()
    try:
        with run_lock(run, wait=False):
            queue.put("locked")
    except RunBusyError as e:
        queue.put(e.line())


def test_a_second_process_is_told_who_holds_the_run(tmp_path):
    run = tmp_path / "run"
    proc = _Holder(run)
    try:
        with pytest.raises(RunBusyError) as e:
            with run_lock(run, wait=False):
                pass
        assert e.value.holder["pid"] == proc.pid
        assert e.value.line().startswith(
            f"{run}: another process (PID {proc.pid} on host {socket.gethostname()}) is "
            "training this run; wait for it to finish"
        )
        t0 = time.monotonic()
        with pytest.raises(RunBusyError, match=r"\(waited\)"):
            with run_lock(run, wait=True, timeout=0.6):
                pass
        assert time.monotonic() - t0 >= 0.6
    finally:
        proc.release()
    with run_lock(run, wait=False):  # free once the holder is done
        assert json.loads((run / runlock.HOLDER_FILE).read_text())["pid"] == os.getpid()


def test_a_waiting_process_gets_the_lock_when_the_holder_finishes(tmp_path, caplog):
    run = tmp_path / "run"
    proc = _Holder(run)
    threading.Timer(0.5, proc.stop.set).start()  # the holder finishes while we wait
    with caplog.at_level(logging.WARNING, logger="mvlib.ml.runlock"):
        with run_lock(run, wait=True, timeout=60):
            proc.proc.join(60)
            assert proc.proc.exitcode == 0
    assert f"PID {proc.pid} on host" in caplog.text and "waiting for it" in caplog.text


def test_the_lock_is_reentrant_and_passes_to_processes_its_holder_starts(tmp_path):
    run = tmp_path / "run"
    with run_lock(run, wait=False):
        with run_lock(run, wait=False):  # train() inside a sweep worker's locked run
            pass
        key = (run / runlock.LOCK_FILE).resolve()
        held = ownedlock._HELD[key]
        assert str(run.resolve()) in os.environ[runlock.HELD_ENV]
        # a child (papermill's kernel running chapter 3 for a sweep worker) may write it
        out = subprocess.run(
            ["sh", "-c", f'echo "${runlock.HELD_ENV}"'], capture_output=True, text=True
        )
        assert str(run.resolve()) in out.stdout.strip().split(os.pathsep)
        ownedlock._HELD.clear()  # as in that child: not ours, but inherited
        try:
            with run_lock(run, wait=False):
                pass
        finally:
            ownedlock._HELD[key] = held
        # another process that did not inherit it is refused
        queue = _FORK.Queue()
        env, os.environ[runlock.HELD_ENV] = os.environ[runlock.HELD_ENV], ""
        try:
            child = _FORK.Process(target=_try, args=(str(run), queue))
            child.start()
            child.join(60)
        finally:
            os.environ[runlock.HELD_ENV] = env
        assert "is training this run" in queue.get(timeout=10)
    assert str(run.resolve()) not in os.environ.get(runlock.HELD_ENV, "")


def test_a_killed_holder_leaves_its_record_and_the_next_writer_resumes(tmp_path, caplog):
    run = tmp_path / "run"
    proc = _Holder(run)
    proc.kill()  # SIGKILL: no cleanup ran; the kernel released the lock
    assert json.loads((run / runlock.HOLDER_FILE).read_text())["pid"] == proc.pid
    with caplog.at_level(logging.WARNING, logger="mvlib.ml.runlock"):
        with run_lock(run, wait=False):
            pass
    assert f"last writer (PID {proc.pid} on host {socket.gethostname()}) was killed" in caplog.text


def test_a_lock_kept_by_a_descriptor_of_a_dead_holder_is_taken_over(tmp_path, caplog):
    # the lock file is still locked (a descriptor that outlived its process, e.g. a forked
    # child), but the recorded holder is a process of this host that no longer runs
    run = tmp_path / "run"
    run.mkdir()
    dead = subprocess.Popen(["true"])
    dead.wait()  # a PID that no longer runs
    (run / runlock.HOLDER_FILE).write_text(
        json.dumps({"pid": dead.pid, "host": socket.gethostname(), "since": 0})
    )
    fd = os.open(run / runlock.LOCK_FILE, os.O_RDWR | os.O_CREAT)
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    try:
        with caplog.at_level(logging.WARNING, logger="mvlib.ml.runlock"):
            with run_lock(run, wait=False):
                holder = json.loads((run / runlock.HOLDER_FILE).read_text())
        assert holder["pid"] == os.getpid()
        assert f"(PID {dead.pid} on host" in caplog.text and "taking the run over" in caplog.text
    finally:
        os.close(fd)


def test_a_holder_on_another_host_is_never_taken_over(tmp_path):
    run = tmp_path / "run"
    proc = _Holder(run)
    try:
        record = {"pid": 999_999_999, "host": "elsewhere", "since": 0}
        (run / runlock.HOLDER_FILE).write_text(json.dumps(record))
        assert not ownedlock.is_dead(record)
        with pytest.raises(RunBusyError, match="PID 999999999 on host elsewhere"):
            with run_lock(run, wait=False):
                pass
    finally:
        proc.release()


def test_probe_of_a_missing_run_folder_creates_nothing(tmp_path):
    run = tmp_path / "not-a-run"
    with run_lock(run, wait=True, create=False):
        pass
    assert not run.exists()


def test_a_holder_that_finished_normally_is_not_called_killed(tmp_path, caplog):
    # e.g. chapter 6 reusing a frontend-only baseline that chapter 4's sweep probed and left
    run = tmp_path / "run"
    proc = _Holder(run)
    proc.release()
    with caplog.at_level(logging.WARNING, logger="mvlib.ml.runlock"):
        with run_lock(run, wait=False):
            pass
    assert "killed" not in caplog.text and "taking the run over" not in caplog.text
