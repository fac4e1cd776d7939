"""The public API (``from mvlib import …``): the names, their documentation, and tiny calls."""

from __future__ import annotations

import inspect
import json
import re
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import yaml

import mvlib
from mvlib.core.registry import FRONTENDS, OBJECTIVES

ROOT = Path(__file__).resolve().parents[1]
#: the names of the shared spec
PUBLIC = [
    "load_config",
    "prepare",
    "train_run",
    "probe_run",
    "run_sweep",
    "embed_files",
    "compare_runs",
    "register_objective",
    "register_frontend",
    "MvlibError",
    "__version__",
]

TINY = {
    "synth.n_sensors": 6,
    "synth.clips_per_sensor": 4,
    "synth.duration_s": 1.0,
    "split.n_pairs": [32, 8, 8],
    "split.sensor_fractions": [0.5, 0.17, 0.33],
    "train.epochs": 1,
    "probe.epochs": 3,
}


def test_all_is_exactly_the_public_names():
    assert sorted(mvlib.__all__) == sorted(PUBLIC)
    for name in PUBLIC:
        assert hasattr(mvlib, name), name


@pytest.mark.parametrize("name", [n for n in PUBLIC if n != "__version__"])
def test_each_name_has_a_docstring_with_an_example(name):
    doc = inspect.getdoc(getattr(mvlib, name)) or ""
    assert doc.splitlines()[0].strip(), f"{name}: no summary line"
    assert re.search(r"^Examples?\n-+$", doc, re.M), f"{name}: no Examples section"
    assert re.search(r"^(>>>|\.\.\.) .*mvlib\.", doc, re.M), f"{name}: no example uses mvlib."


def test_version_is_single_sourced():
    ns: dict = {}
    exec((ROOT / "mvlib" / "core" / "version.py").read_text(), ns)
    assert mvlib.__version__ == ns["__version__"]
    assert re.fullmatch(r"\d+\.\d+\.\d+", mvlib.__version__)
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert 'dynamic = ["version"]' in pyproject and "mvlib.core.version.__version__" in pyproject
    citation = yaml.safe_load((ROOT / "CITATION.cff").read_text())
    assert str(citation["version"]) == mvlib.__version__


def test_load_config_and_mvlib_error():
    cfg = mvlib.load_config("ci", {"train.epochs": 1})
    assert cfg.profile == "ci" and cfg.train.epochs == 1
    with pytest.raises(mvlib.MvlibError) as err:
        mvlib.load_config("ci", {"train.epochs": -1})
    assert err.value.culprit == "train.epochs" and err.value.fix


@pytest.fixture
def registries():
    """The registries as they were before the test (its registrations removed after it)."""
    before = {reg: dict(reg._entries) for reg in (OBJECTIVES, FRONTENDS)}
    yield
    for reg, entries in before.items():
        reg._entries.clear()
        reg._entries.update(entries)


def test_registered_names_are_accepted_by_the_config(registries):
    @mvlib.register_objective("test_public_api_objective")
    def objective(out, x1, x2, cfg, gather):  # pragma: no cover - only registered
        raise NotImplementedError

    def frontend(features):  # pragma: no cover - only registered
        raise NotImplementedError

    assert mvlib.register_frontend("test_public_api_frontend", frontend) is frontend
    assert OBJECTIVES.get("test_public_api_objective") is objective
    assert FRONTENDS.get("test_public_api_frontend") is frontend
    cfg = mvlib.load_config(
        "ci",
        {
            "objective.objective": "test_public_api_objective",
            "features.frontend": "test_public_api_frontend",
        },
    )
    assert cfg.objective.objective == "test_public_api_objective"
    assert cfg.features.frontend == "test_public_api_frontend"
    with pytest.raises(mvlib.MvlibError, match="not one of"):
        mvlib.load_config("ci", {"objective.objective": "test_public_api_unregistered"})


def test_run_sweep_refuses_an_unknown_configuration_before_any_work(tmp_path, monkeypatch):
    monkeypatch.setenv("MVLIB_CACHE", str(tmp_path / "cache"))
    with pytest.raises(mvlib.MvlibError, match="no such configuration"):
        mvlib.run_sweep(mvlib.load_config("ci"), only=["no such thing"])
    assert not (tmp_path / "cache" / "runs").exists()


@pytest.mark.slow
def test_train_probe_and_embed_through_the_public_api(tmp_path, monkeypatch):
    monkeypatch.setenv("MVLIB_CACHE", str(tmp_path / "cache"))
    cfg = mvlib.load_config("ci", TINY)
    prep = mvlib.prepare(cfg, progress=False)
    assert len(prep.clips) == 24 and len(prep.store) == 24

    result = mvlib.train_run(cfg, progress=False)
    assert (result.run_dir / "done.json").is_file()
    assert result.run_dir.is_relative_to(tmp_path / "cache")
    again = mvlib.train_run(cfg, progress=False)  # finished: returned as it is
    assert (again.run_dir, again.best_val) == (result.run_dir, result.best_val)

    results = mvlib.probe_run(result.run_dir, progress=False)
    assert results == json.loads((result.run_dir / "results.json").read_text())
    assert 0.0 <= results["summary"]["sensor_accuracy"] <= 1.0
    with pytest.raises(mvlib.MvlibError, match="one configuration"):  # nothing to compare with
        mvlib.compare_runs([result.run_dir], reference=str(result.run_dir))

    t = np.arange(22050) / 22050
    files = []
    for name, f0 in (("a.wav", 440.0), ("b.wav", 880.0)):
        sf.write(tmp_path / name, 0.1 * np.sin(2 * np.pi * f0 * t), 22050)
        files.append(tmp_path / name)
    report = mvlib.embed_files(files, result.run_dir, progress=False)
    a, b = (r.clip for r in report.results)
    assert a.shape == b.shape and a.ndim == 1 and not np.allclose(a, b)
    assert report.failed == []
