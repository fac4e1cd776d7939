"""Cache root and atomic writes (mvlib.core.cache)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from mvlib.cli import main
from mvlib.core import cache

ROOT = Path(__file__).resolve().parents[2]


def test_cache_root_follows_env(tmp_path, monkeypatch):
    monkeypatch.setenv(cache.CACHE_ENV, str(tmp_path / "c"))
    assert cache.cache_root() == tmp_path / "c"
    d = cache.cache_dir("runs", "x")
    assert d == tmp_path / "c" / "runs" / "x" and d.is_dir()


def test_default_cache_root_is_in_the_project(monkeypatch):
    monkeypatch.delenv(cache.CACHE_ENV, raising=False)
    assert cache.default_cache_root() == ROOT / ".mvlib"


def test_installed_default_is_the_user_cache_never_the_working_folder(tmp_path, monkeypatch):
    monkeypatch.setattr(cache, "checkout_root", lambda: None)  # as an installed wheel
    monkeypatch.delenv(cache.CACHE_ENV, raising=False)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache.cache_root() == tmp_path / "xdg" / "mvlib"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert cache.default_cache_root() == tmp_path / "home" / ".cache" / "mvlib"
    assert sorted(os.listdir(tmp_path)) == ["xdg"]


def _one_error_line(capsys) -> str:
    captured = capsys.readouterr()
    assert captured.err.count("\n") == 1, captured.err
    return captured.err.strip()


def test_a_cache_under_a_regular_file_is_one_line_naming_mvlib_cache(tmp_path, monkeypatch, capsys):
    (tmp_path / "file").write_text("not a folder")
    monkeypatch.setenv(cache.CACHE_ENV, str(tmp_path / "file" / "cache"))
    assert main(["synth", "--profile", "ci", "-q"]) == 2
    line = _one_error_line(capsys)
    assert line.startswith(f"mvlib: error: MVLIB_CACHE={tmp_path / 'file' / 'cache'}: ")
    assert "cannot be created" in line and "set MVLIB_CACHE to a folder you can write" in line


def test_the_same_through_the_console_script_exits_2(tmp_path):
    (tmp_path / "file").write_text("not a folder")
    env = {**os.environ, cache.CACHE_ENV: str(tmp_path / "file" / "cache")}
    proc = subprocess.run(
        [sys.executable, "-m", "mvlib", "train", "--profile", "ci", "-q"],
        env=env,
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert proc.stderr.count("\n") == 1 and "MVLIB_CACHE=" in proc.stderr
    assert "Traceback" not in proc.stderr


@pytest.mark.skipif(
    not Path("/sys/kernel").is_dir(), reason="needs Linux sysfs: a folder no one can write in"
)
@pytest.mark.parametrize("where", ["/sys/kernel", "/sys/kernel/mvlib-cache"])
def test_an_unwritable_cache_is_one_line_naming_mvlib_cache(where, monkeypatch, capsys):
    # sysfs refuses new files even to root (who passes every chmod and os.access check):
    # the existing folder is caught by the probe write, the new one when it is made
    monkeypatch.setenv(cache.CACHE_ENV, where)
    assert main(["train", "--profile", "ci", "-q"]) == 2
    line = _one_error_line(capsys)
    assert line.startswith(f"mvlib: error: MVLIB_CACHE={where}: the cache folder ")
    assert ("is not writable" if where == "/sys/kernel" else "cannot be created") in line


def test_an_unusable_default_cache_names_the_default_and_mvlib_cache(tmp_path, monkeypatch, capsys):
    (tmp_path / "home").write_text("a file where the home folder should be")
    monkeypatch.setattr(cache, "checkout_root", lambda: None)
    monkeypatch.delenv(cache.CACHE_ENV, raising=False)
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert main(["synth", "--profile", "ci", "-q"]) == 2
    line = _one_error_line(capsys)
    default = tmp_path / "home" / ".cache" / "mvlib"
    assert line.startswith(f"mvlib: error: {default} (the default cache; MVLIB_CACHE is not set)")
    assert "set MVLIB_CACHE to a folder you can write" in line


def test_atomic_write_replaces_and_leaves_no_temp(tmp_path):
    p = tmp_path / "a" / "f.json"
    cache.atomic_write_json(p, {"x": 1})
    cache.atomic_write_json(p, {"x": 2})
    assert json.loads(p.read_text()) == {"x": 2}
    assert os.listdir(p.parent) == ["f.json"]


def test_failed_write_keeps_the_old_file(tmp_path):
    p = tmp_path / "f.json"
    cache.atomic_write_json(p, {"x": 1})
    with pytest.raises(TypeError):
        cache.atomic_write_json(p, {"x": object()})
    assert json.loads(p.read_text()) == {"x": 1}
    assert os.listdir(tmp_path) == ["f.json"]


def test_strict_json_writes_undefined_metrics_as_null():
    import json

    import numpy as np

    from mvlib.core.cache import strict_json

    obj = {
        "a": float("nan"),
        "b": [np.float32(0.5), np.inf],
        "c": np.array([1.0, np.nan]),
        "d": (1,),
    }
    undefined = []
    out = strict_json(obj, undefined=undefined)
    assert out == {"a": None, "b": [0.5, None], "c": [1.0, None], "d": [1]}
    assert undefined == ["a", "b[1]", "c[1]"]
    json.dumps(out, allow_nan=False)


def test_atomic_write_fsyncs_unless_told_not_to(tmp_path, monkeypatch):
    import os

    from mvlib.core import cache

    synced = []
    real = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: (synced.append(fd), real(fd)))
    cache.atomic_write_bytes(tmp_path / "a", b"x")
    assert len(synced) == 1
    cache.atomic_write_bytes(tmp_path / "b", b"yz", durable=False)
    assert len(synced) == 1 and (tmp_path / "b").read_bytes() == b"yz"
    assert not list(tmp_path.glob(".*.tmp"))  # renamed into place either way
