"""Cache root and atomic writes (mvlib.core.cache)."""

import json
import os

import pytest

from mvlib.core import cache


def test_cache_root_follows_env(tmp_path, monkeypatch):
    monkeypatch.setenv(cache.CACHE_ENV, str(tmp_path / "c"))
    assert cache.cache_root() == tmp_path / "c"
    d = cache.cache_dir("runs", "x")
    assert d == tmp_path / "c" / "runs" / "x" and d.is_dir()


def test_default_cache_root_is_in_the_project(monkeypatch):
    monkeypatch.delenv(cache.CACHE_ENV, raising=False)
    assert cache.cache_root().name == ".mvlib"


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
