"""Dataset resolution (mvlib.data.dataset) with many processes on one cache (issue 21).

One process generates a synthetic set while holding its lock; a second one that wants the
same set waits, then uses it, and never calls the half-written set foreign. A generator
killed with ``kill -9`` leaves no lock behind: the next run resumes and finishes the set,
which equals a single generation byte for byte.

The generator of the first process is held at its first sensor (a wrapper that waits for a
file) so that the second process provably meets a set being generated.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import filelock
import pytest
from foreign_data import tree_digest

from mvlib.core.config import read_profile
from mvlib.data import dataset
from mvlib.data.synth import lock
from mvlib.data.synth.folder import folder_state
from mvlib.data.synth.generation import generate
from mvlib.data.synth.plan import set_name

#: a small set: 4 sensors x 3 clips of 1 s
SMALL = {"synth.n_sensors": 4, "synth.clips_per_sensor": 3, "synth.duration_s": 1.0}
SETS = [f"{k}={v}" for k, v in SMALL.items()]
TIMEOUT_S = 240

#: ensure_dataset in a process whose generator stops before its first sensor until `go` exists
HELD_GENERATOR = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from mvlib.core.config import read_profile
    from mvlib.data import dataset
    from mvlib.data.synth import generation

    started, go = Path(sys.argv[1]), Path(sys.argv[2])
    render = generation._render_sensor

    def held(*args, **kwargs):
        started.touch()
        deadline = time.monotonic() + 200
        while not go.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        return render(*args, **kwargs)

    generation._render_sensor = held
    overrides = dict(kv.split("=", 1) for kv in sys.argv[3:])
    cfg = read_profile("ci", {k: float(v) if "." in v else int(v) for k, v in overrides.items()})
    print(dataset.ensure_dataset(cfg, progress=False))
    """)


@pytest.fixture()
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("MVLIB_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> dict[str, str]:
    """The small set made by one generation in one process."""
    out = tmp_path_factory.mktemp("reference") / "set"
    generate(read_profile("ci", SMALL).synth, out, progress=False, workers=1)
    return tree_digest(out)


def _env(cache: Path) -> dict:
    return {**os.environ, "MVLIB_CACHE": str(cache), "PYTHONUNBUFFERED": "1"}


def _held_generator(tmp_path: Path, cache: Path) -> tuple[subprocess.Popen, Path, Path]:
    started, go = tmp_path / "started", tmp_path / "go"
    args = [sys.executable, "-c", HELD_GENERATOR, str(started), str(go), *SETS]
    proc = subprocess.Popen(
        args, env=_env(cache), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    _wait_for(lambda: started.exists() or proc.poll() is not None, "the generator to start")
    assert proc.poll() is None, proc.communicate()
    return proc, started, go


def _synth_cli(cache: Path) -> subprocess.Popen:
    argv = [sys.executable, "-m", "mvlib", "synth", "--profile", "ci", "-q"]
    for s in SETS:
        argv += ["--set", s]
    return subprocess.Popen(
        argv, env=_env(cache), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def _wait_for(cond, what: str) -> None:
    deadline = time.monotonic() + TIMEOUT_S
    while not cond():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def _set_dir(cache: Path) -> Path:
    return cache / "datasets" / set_name(read_profile("ci", SMALL).synth)


@pytest.mark.slow
def test_a_second_process_waits_for_the_set_being_generated_and_uses_it(tmp_path, cache, reference):
    first, _, go = _held_generator(tmp_path, cache)
    root = _set_dir(cache)
    assert folder_state(root)[0] == "incomplete"  # mid-generation: marker, no files yet
    second = _synth_cli(cache)
    seen = []
    for line in second.stderr:  # the CLI logs that it waits, naming the generating process
        seen.append(line)
        if "is generating this dataset; waiting for it to finish" in line:
            assert f"PID {first.pid} on host" in line, line
            break
    else:
        pytest.fail("the second process did not wait:\n" + "".join(seen))
    go.touch()
    out1, err1 = first.communicate(timeout=TIMEOUT_S)
    out2, err2 = second.communicate(timeout=TIMEOUT_S)
    err2 = "".join(seen) + err2
    assert first.returncode == 0, err1
    assert second.returncode == 0, err2
    assert "did not write" not in err2 and "foreign" not in err2
    assert Path(out1.strip()) == Path(out2.strip()) == root
    assert tree_digest(root) == reference


@pytest.mark.slow
def test_processes_started_together_all_finish_with_one_set(cache, reference):
    procs = [_synth_cli(cache) for _ in range(2)]
    results = [p.communicate(timeout=TIMEOUT_S) for p in procs]
    for p, (_, err) in zip(procs, results):
        assert p.returncode == 0, err
        assert "did not write" not in err
    assert tree_digest(_set_dir(cache)) == reference


@pytest.mark.slow
def test_a_killed_generator_leaves_no_lock_and_the_rerun_finishes_the_set(
    tmp_path, cache, reference
):
    first, _, _ = _held_generator(tmp_path, cache)  # never released: killed mid-generation
    root = _set_dir(cache)
    holder = lock.holder(lock.lock_path(root))
    assert holder and holder["pid"] == first.pid
    os.kill(first.pid, signal.SIGKILL)
    first.wait(timeout=TIMEOUT_S)
    assert folder_state(root)[0] == "incomplete"

    cfg = read_profile("ci", SMALL)
    assert dataset.ensure_dataset(cfg, progress=False) == root  # in this process: no wait
    assert folder_state(root)[0] == "complete"
    assert tree_digest(root) == reference
    assert lock.holder(lock.lock_path(root))["pid"] == os.getpid()


def test_a_lock_whose_holder_died_is_taken_over(tmp_path, cache, caplog):
    """A lock file whose recorded holder no longer runs (the lock outlived it) is taken over."""
    out = tmp_path / "set"
    path = lock.lock_path(out)
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)  # fmt: skip
    # the stale holder's lock, still held by a descriptor (of this process, here)
    stale = filelock.FileLock(path, thread_local=False)
    stale.acquire()
    try:
        info = {"pid": int(dead.stdout), "host": socket.gethostname(), "since": 0}
        path.with_suffix(".lock.json").write_text(json.dumps(info))
        with caplog.at_level("WARNING", logger="mvlib.data.synth.lock"):
            with lock.generation_lock(out):
                assert lock.holder(path)["pid"] == os.getpid()
        assert "no longer runs; taking the set over" in caplog.text
    finally:
        stale.release()
