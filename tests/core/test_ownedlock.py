"""The owned lock (mvlib.core.ownedlock): one holder at a time, named, dead ones replaced once."""

import fcntl
import json
import multiprocessing
import os
import socket
import subprocess
import time

import pytest

from mvlib.core import ownedlock

_FORK = multiprocessing.get_context("fork")  # children without a fresh interpreter: fast


def _dead_pid() -> int:
    dead = subprocess.Popen(["true"])
    dead.wait()  # a PID of this host that no longer runs
    return dead.pid


def _plant_dead_holder(lock, record) -> int:
    """The lock file locked by a descriptor that outlived its holder; the record names it."""
    record.write_text(json.dumps({"pid": _dead_pid(), "host": socket.gethostname(), "since": 0}))
    fd = os.open(lock, os.O_RDWR | os.O_CREAT)
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    return fd


def _hold_and_log(lock: str, record: str, log: str, go) -> None:  # in a forked child
    ownedlock._HELD.clear()
    go.wait(30)
    with ownedlock.owned_lock(lock, record, wait=True, timeout=60):
        with open(log, "a") as f:
            f.write(f"in {os.getpid()} {time.monotonic()}\n")
        time.sleep(0.3)
        with open(log, "a") as f:
            f.write(f"out {os.getpid()} {time.monotonic()}\n")


def test_waiters_that_all_saw_a_dead_holder_take_it_over_one_at_a_time(tmp_path):
    lock, record, log = tmp_path / "x.lock", tmp_path / "x.lock.json", tmp_path / "log"
    fd = _plant_dead_holder(lock, record)
    go = _FORK.Event()
    kids = [
        _FORK.Process(target=_hold_and_log, args=(str(lock), str(record), str(log), go))
        for _ in range(4)
    ]
    try:
        for k in kids:
            k.start()
        go.set()  # all four poll together and see the same dead record twice
        for k in kids:
            k.join(90)
            assert k.exitcode == 0
    finally:
        os.close(fd)
    events = [line.split() for line in log.read_text().splitlines()]
    assert len(events) == 8, events
    # never two holders at once: every "in" is followed by the same process's "out"
    for enter, leave in zip(events[::2], events[1::2]):
        assert enter[0] == "in" and leave[0] == "out" and enter[1] == leave[1], events
    assert len({e[1] for e in events}) == 4


def _try_once(lock: str, record: str, queue) -> None:  # in a forked child: wait=False
    ownedlock._HELD.clear()
    try:
        with ownedlock.owned_lock(lock, record, wait=False):
            queue.put("took it")
    except ownedlock.LockBusy as busy:
        queue.put(f"busy {busy.holder['pid']}")


def test_a_newcomer_whose_fresh_file_a_takeover_replaces_backs_off(tmp_path):
    # the race CI met: a takeover unlinked the dead file; a newcomer locked the fresh file at
    # the path before the taker did (so the taker backed off) but had not written its
    # record; a second taker, still reading the dead record, replaced the newcomer's file.
    # The newcomer must then find its file gone, not hold the lock beside the taker.
    lock, record = tmp_path / "x.lock", tmp_path / "x.lock.json"
    fd = _plant_dead_holder(lock, record)
    dead = json.loads(record.read_text())
    try:
        lock.unlink()  # the first taker's unlink
        newcomer = ownedlock.filelock.FileLock(lock, thread_local=False)
        newcomer.acquire(timeout=0)  # the fresh file, locked; the record still the dead one
        taker = ownedlock._take_over(lock, record, dead, None)  # (in-process: own descriptor)
        assert taker is not None and ownedlock.read_record(record)["pid"] == os.getpid()
        settled, _ = ownedlock._settle(newcomer, lock, record, None)
        assert not settled
        newcomer.release()
        taker.release()
    finally:
        os.close(fd)


def _settle_and_log(lock: str, record: str, log: str) -> None:  # in a forked child
    ownedlock._HELD.clear()
    with ownedlock.owned_lock(lock, record, wait=False):
        with open(log, "a") as f:
            f.write(f"in {time.monotonic()}\n")


def test_an_ordinary_holder_settles_under_the_takeover_guard(tmp_path):
    # so that no takeover can replace its file between its check and its record
    lock, record, log = tmp_path / "x.lock", tmp_path / "x.lock.json", tmp_path / "log"
    guard = ownedlock._guard(lock)
    guard.acquire()
    child = _FORK.Process(target=_settle_and_log, args=(str(lock), str(record), str(log)))
    child.start()
    time.sleep(1.0)
    assert not log.exists(), "took the lock while a takeover held the guard"
    released = time.monotonic()
    guard.release()
    child.join(30)
    assert child.exitcode == 0
    assert float(log.read_text().split()[1]) >= released


def test_a_dead_record_that_a_live_new_holder_replaces_between_two_polls_is_not_taken_over(
    tmp_path,
):
    # a live process has just taken the lock, and has not yet replaced its dead
    # predecessor's record: a waiter that judged on one poll would take a live lock over
    lock, record = tmp_path / "x.lock", tmp_path / "x.lock.json"
    fd = _plant_dead_holder(lock, record)  # the lock is this (live) process's meanwhile
    queue = _FORK.Queue()
    try:
        child = _FORK.Process(target=_try_once, args=(str(lock), str(record), queue))
        child.start()
        time.sleep(ownedlock.POLL_S / 2)  # the child's first poll saw the dead record
        record.write_text(
            json.dumps({"pid": os.getpid(), "host": socket.gethostname(), "since": 1})
        )
        child.join(30)
        assert queue.get(timeout=10) == f"busy {os.getpid()}"
    finally:
        os.close(fd)


def test_a_dead_holder_is_taken_over_and_its_record_is_returned(tmp_path):
    lock, record = tmp_path / "x.lock", tmp_path / "x.lock.json"
    fd = _plant_dead_holder(lock, record)
    dead = json.loads(record.read_text())
    seen = []
    try:
        t0 = time.monotonic()
        with ownedlock.owned_lock(lock, record, wait=False, on_takeover=seen.append) as prev:
            assert prev == dead and seen == [dead]
            assert ownedlock.read_record(record)["pid"] == os.getpid()
            assert ownedlock.is_held(lock)
            with ownedlock.owned_lock(lock, record, wait=False):  # re-entrant
                pass
        # two polls, POLL_S apart, before the takeover
        assert time.monotonic() - t0 >= ownedlock.POLL_S
        assert not ownedlock.is_held(lock)
    finally:
        os.close(fd)


def test_a_live_holder_is_named_and_a_timeout_is_kept(tmp_path):
    lock, record = tmp_path / "x.lock", tmp_path / "x.lock.json"
    record.write_text(json.dumps({"pid": os.getppid(), "host": socket.gethostname()}))
    fd = os.open(lock, os.O_RDWR | os.O_CREAT)
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    try:
        with pytest.raises(ownedlock.LockBusy) as busy:
            with ownedlock.owned_lock(lock, record, wait=False):
                pass
        assert not busy.value.waited and busy.value.holder["pid"] == os.getppid()
        waited = []
        t0 = time.monotonic()
        with pytest.raises(ownedlock.LockBusy) as busy:
            with ownedlock.owned_lock(lock, record, wait=True, timeout=0.6, on_wait=waited.append):
                pass
        assert busy.value.waited and time.monotonic() - t0 >= 0.6
        assert len(waited) == 1  # said once
    finally:
        os.close(fd)


def test_a_holder_on_another_host_or_this_process_is_never_dead():
    assert not ownedlock.is_dead({"pid": _dead_pid(), "host": "elsewhere"})
    assert not ownedlock.is_dead({"pid": os.getpid(), "host": socket.gethostname()})
    assert ownedlock.is_dead({"pid": _dead_pid(), "host": socket.gethostname()})
    assert not ownedlock.is_dead(None) and not ownedlock.is_dead({"host": socket.gethostname()})
    assert ownedlock.describe(None) == "an unknown process"


def test_a_second_takeover_of_the_same_dead_holder_finds_the_first_and_backs_off(tmp_path):
    # two waiters decided on the same two polls; the second runs its takeover after the
    # first finished its own: it must find the live record and leave the new lock alone
    lock, record = tmp_path / "x.lock", tmp_path / "x.lock.json"
    fd = _plant_dead_holder(lock, record)
    dead = json.loads(record.read_text())
    try:
        first = ownedlock._take_over(lock, record, dead, None)
        assert first is not None and first.is_locked
        inode = os.stat(lock).st_ino
        assert ownedlock._take_over(lock, record, dead, None) is None
        assert os.stat(lock).st_ino == inode  # the first taker's file was not replaced
        first.release()
    finally:
        os.close(fd)


def _hold_briefly(lock: str, record: str) -> None:  # in a forked child
    ownedlock._HELD.clear()
    with ownedlock.owned_lock(lock, record, wait=True):
        pass


def test_a_holder_that_ended_normally_is_not_reported_killed_and_a_killed_one_is(tmp_path):
    lock, record = tmp_path / "x.lock", tmp_path / "x.lock.json"
    child = _FORK.Process(target=_hold_briefly, args=(str(lock), str(record)))
    child.start()
    child.join(30)
    assert child.exitcode == 0
    with ownedlock.owned_lock(lock, record, wait=False) as previous:
        assert previous["pid"] == child.pid and "released" in previous
        assert ownedlock.is_dead(previous) and not ownedlock.was_killed(previous)
    # the same record without its release mark: a holder killed while it held the lock
    unreleased = {k: v for k, v in previous.items() if k != "released"}
    assert ownedlock.was_killed(unreleased)


def test_a_non_reentrant_lock_is_a_second_holder_in_the_same_process(tmp_path):
    # two writers of one store part in one process exclude each other
    lock, record = tmp_path / "x.lock", tmp_path / "x.lock.json"
    with ownedlock.owned_lock(lock, record, wait=False, reentrant=False):
        with pytest.raises(ownedlock.LockBusy) as busy:
            with ownedlock.owned_lock(lock, record, wait=True, timeout=0.6, reentrant=False):
                pass
        assert busy.value.waited and busy.value.holder["pid"] == os.getpid()
        with ownedlock.owned_lock(lock, record, wait=False):  # the re-entrant kind passes
            pass
    with ownedlock.owned_lock(lock, record, wait=False, reentrant=False):  # free again
        pass
