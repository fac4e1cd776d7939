"""Many processes on one cache, through the CLI: one writer per run folder (mvlib.ml.runlock).

Three ``mvlib sweep`` started at once share the runs instead of training them together; a
``mvlib train`` of a run that a sweep is writing says so in one line (``--no-wait``) or
waits and reuses it; a lock holder killed with SIGKILL leaves a run that a rerun resumes.
"""

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
ONLY = ["rec", "rec + cos- sample"]  # 2 configurations
SEEDS = "0,1"  # x 2 seeds


def _profile(folder: Path, name: str, **sections) -> Path:
    """A tiny profile outside params/: ci, one epoch, short probes."""
    text = {"inherits": "ci", "train": {"epochs": 1}, "probe": {"epochs": 5}}
    for key, value in sections.items():
        text[key] = {**text.get(key, {}), **value}
    path = folder / f"{name}.yml"
    path.write_text(yaml.safe_dump(text))
    return path


def _env(cache: Path) -> dict:
    return {**os.environ, "MVLIB_CACHE": str(cache), "PYTHONPATH": str(ROOT)}


def _mvlib(*args) -> list[str]:
    return [sys.executable, "-m", "mvlib", *map(str, args)]


def _sweep_cmd(profile: Path) -> list[str]:
    cmd = _mvlib("sweep", "--profile", profile, "--seeds", SEEDS, "-q")
    for name in ONLY:
        cmd += ["--only", name]
    return cmd


def _trained_runs(cache: Path, profile: str) -> list[Path]:
    runs = (cache / "runs" / profile).iterdir()
    return sorted(r for r in runs if not r.name.startswith("frontend-"))


def _rows_once(run: Path, epochs: int) -> None:
    """losses.csv holds each (epoch, split) row exactly once, for every epoch."""
    hist = pd.read_csv(run / "losses.csv")
    keys = list(zip(hist["epoch"], hist["split"]))
    assert sorted(keys) == sorted((e, s) for e in range(epochs) for s in ("train", "val")), keys


#: results.json fields that name where a cache lies (two caches: two paths), not results
_WHERE = {("provenance", "store"), ("summary", "data_root")}


def _comparable(results: dict) -> dict:
    out = {k: results[k] for k in ("config", "metrics", "summary", "predictions", "provenance")}
    for section, key in _WHERE:
        out[section] = {k: v for k, v in out[section].items() if k != key}
    return out


@pytest.fixture(scope="module")
def prepared(tmp_path_factory) -> Path:
    """A cache holding the ci dataset and latent store (the profiles below share them)."""
    cache = tmp_path_factory.mktemp("prepared")
    out = subprocess.run(
        _mvlib("extract", "--profile", "ci", "-q"),
        env=_env(cache),
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    return cache


def _wait_for(test, what: str, proc=None, timeout: float = 300.0) -> None:
    t0 = time.monotonic()
    while not test():
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"{what}: the process ended first:\n{proc.stderr.read()[-3000:]}")
        assert time.monotonic() - t0 < timeout, f"timed out waiting for {what}"
        time.sleep(0.1)


@pytest.mark.slow
def test_three_sweeps_at_once_on_one_cache_train_each_run_once(tmp_path):
    profile = _profile(tmp_path, "tiny")
    shared = tmp_path / "shared"  # empty: the three make the dataset and store together
    t0 = time.perf_counter()
    procs = [
        subprocess.Popen(
            _sweep_cmd(profile),
            env=_env(shared),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(3)
    ]
    outs = [p.communicate(timeout=900) for p in procs]
    wall3 = time.perf_counter() - t0
    for p, (_out, err) in zip(procs, outs):
        assert p.returncode == 0, err[-3000:]
        assert "mvlib: error" not in err and "Traceback" not in err, err[-3000:]
        assert "did not write" not in err  # nobody blames the dataset another one makes
    runs = _trained_runs(shared, "tiny")
    assert len(runs) == len(ONLY) * 2
    for run in runs:
        _rows_once(run, epochs=1)
        assert not (run / "failed.json").exists()
    # each run was trained by exactly one of the three; the others skipped it
    done = [line for out, _ in outs for line in out.splitlines() if " done " in line]
    assert sorted(line.split()[-1] for line in done) == [str(r) for r in runs], done
    trainers = sum(any(" done " in line for line in out.splitlines()) for out, _ in outs)

    # a single sweep on another empty cache makes the same; it does the shared work (the
    # dataset and the store) as well, so the two wall times compare like with like
    alone = tmp_path / "alone"
    t0 = time.perf_counter()
    out = subprocess.run(
        _sweep_cmd(profile), env=_env(alone), capture_output=True, text=True, timeout=900
    )
    wall1 = time.perf_counter() - t0
    assert out.returncode == 0, out.stderr[-3000:]
    ref = _trained_runs(alone, "tiny")
    assert [r.name for r in ref] == [r.name for r in runs]
    for run, one in zip(runs, ref):
        got = json.loads((run / "results.json").read_text())
        want = json.loads((one / "results.json").read_text())
        assert _comparable(got) == _comparable(want), run.name
    print(
        f"\nthree sweeps at once: {wall3:.1f} s ({trainers} of 3 trained runs); "
        f"one sweep alone: {wall1:.1f} s; ratio {wall3 / wall1:.2f} (both from an empty cache)"
    )


def _holder(run: Path) -> dict | None:
    try:
        return json.loads((run / "run.lock.json").read_text())
    except (OSError, ValueError):
        return None


@pytest.mark.slow
def test_mvlib_train_of_a_run_a_sweep_is_writing_says_so_or_waits_and_reuses_it(tmp_path, prepared):
    # a longer run, so that the sweep is still writing it when `mvlib train` comes
    profile = _profile(tmp_path, "b", train={"epochs": 8}, sweep={"seeds": [0]})
    cache = prepared
    sweep = subprocess.Popen(
        _mvlib("sweep", "--profile", profile, "--only", "rec", "--no-frontend", "-q"),
        env=_env(cache),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        runs = cache / "runs" / "b"
        _wait_for(
            lambda: runs.is_dir()
            and any((_holder(r) or {}).get("pid") == sweep.pid for r in runs.iterdir()),
            "the sweep to lock its run",
            sweep,
        )
        run = _trained_runs(cache, "b")[0]
        # the same run as the sweep's (chapter 3's `seeded` config): the sweep's folder;
        # one `mvlib train --no-wait` and one waiting `mvlib train` start together
        train = _mvlib("train", "--profile", profile, "--set", "split.pair_seed=0", "-q")
        pipes = dict(env=_env(cache), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        waiting = subprocess.Popen(train, **pipes)
        busy = subprocess.run(train + ["--no-wait"], timeout=300, **pipes)
        assert busy.returncode == 2, busy.stderr[-3000:]
        line = busy.stderr.strip().splitlines()[-1]
        assert line == (
            f"mvlib: error: {run}: another process (PID {sweep.pid} on host "
            f"{socket.gethostname()}) is training this run; wait for it to finish and run "
            "again (a finished run is reused; `mvlib train` waits unless --no-wait), or train "
            "another --run-dir"
        )
        assert sweep.poll() is None  # still writing: the line came while it held the run
        w_out, w_err = waiting.communicate(timeout=600)
    finally:
        out, err = sweep.communicate(timeout=600)
    assert sweep.returncode == 0, err[-3000:]
    assert waiting.returncode == 0, w_err[-3000:]
    assert f"PID {sweep.pid} on host" in w_err and "waiting for it" in w_err
    assert "already finished; reusing it" in w_err  # not trained again
    assert w_out.strip().splitlines()[-1] == str(run)
    _rows_once(run, epochs=8)
    assert (run / "results.json").exists() and " done " in out


@pytest.mark.slow
def test_a_killed_lock_holder_leaves_a_run_that_a_rerun_resumes_and_finishes(tmp_path, prepared):
    profile = _profile(tmp_path, "k", train={"epochs": 4})
    cache = prepared
    cmd = _mvlib("train", "--profile", profile, "-q")
    first = subprocess.Popen(
        cmd, env=_env(cache), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    runs = cache / "runs" / "k"
    _wait_for(
        lambda: runs.is_dir()
        and any((r / "checkpoints" / "last.pt").exists() for r in runs.iterdir()),
        "the first epoch's checkpoint",
        first,
    )
    first.send_signal(signal.SIGKILL)  # mid-training, holding the run's lock
    first.communicate(timeout=60)
    run = _trained_runs(cache, "k")[0]
    assert _holder(run)["pid"] == first.pid and not (run / "done.json").exists()

    again = subprocess.run(cmd, env=_env(cache), capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stderr[-3000:]
    assert f"last writer (PID {first.pid} on host" in again.stderr  # the lock was taken over
    assert "resuming" in again.stderr and again.stdout.strip().splitlines()[-1] == str(run)
    done = json.loads((run / "done.json").read_text())
    assert done["epochs_run"] == 4
    _rows_once(run, epochs=4)
    assert _holder(run)["pid"] != first.pid
