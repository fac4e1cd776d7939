"""The public API (``from mvlib import …``): the names, their documentation, and tiny calls."""

from __future__ import annotations

import ast
import inspect
import json
import re
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
import yaml
from tiny_run import N_MELS, T, make_run

import mvlib
from mvlib.core.registry import FRONTENDS, OBJECTIVES
from mvlib.embed.stored import embed_array, embed_rows
from mvlib.frontend.store.reader import LatentStore
from mvlib.ml.runs import load_run_model

ROOT = Path(__file__).resolve().parents[1]
#: the names of the shared spec
PUBLIC = [
    "load_config",
    "prepare",
    "train_run",
    "probe_run",
    "run_sweep",
    "embed_files",
    "load_model",
    "compare_runs",
    "train_codec",
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


def _module_names(path: Path) -> tuple[set[str], set[str], list[str], bool]:
    """A module's top-level (defined, imported, ``__all__``, body is only imports)."""
    tree = ast.parse(path.read_text())
    defined: set[str] = set()
    imported: set[str] = set()
    listed: list[str] = []
    only_imports = True
    for node in tree.body:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            imported |= {(a.asname or a.name).split(".")[0] for a in node.names}
            continue
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant):
            continue  # the docstring
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            defined.add(node.name)
        targets = node.targets if isinstance(node, ast.Assign) else []
        names = {t.id for t in targets if isinstance(t, ast.Name)}
        if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names.add(node.target.id)
        if "__all__" in names:
            listed = [e.value for e in node.value.elts]
        else:
            only_imports = False
        defined |= names
    return defined, imported, listed, only_imports and bool(imported)


def test_each_name_has_one_home():
    """Only ``mvlib/__init__.py`` re-exports: every other module lists in ``__all__`` only
    what it defines, keeps no import for others to import from it, and is never imports
    alone (a package's ``__init__`` is its docstring)."""
    for path in sorted((ROOT / "mvlib").rglob("*.py")):
        if path == ROOT / "mvlib" / "__init__.py":
            continue
        name = path.relative_to(ROOT).as_posix()
        defined, imported, listed, only_imports = _module_names(path)
        assert not set(listed) - defined, f"{name} re-exports {sorted(set(listed) - defined)}"
        assert not only_imports, f"{name} only imports (a module of re-exports)"
        assert "noqa: F401" not in path.read_text(), f"{name} keeps an unused import"


#: functions that share a public name on purpose: module -> name
SAME_NAME = {
    "mvlib.embed.hear": "load_model",  # the HEAR-2021 common API requires this name
    "mvlib.workflow": "prepare",  # what mvlib.prepare runs, with the same parameters
}


@pytest.mark.parametrize("name", [n for n in PUBLIC if n[0].islower() and n != "__version__"])
def test_a_public_name_shadows_no_other_function(name):
    """``mvlib.<name>`` is the one function of that name: no module defines another."""
    home = getattr(mvlib, name).__module__
    for path in sorted((ROOT / "mvlib").rglob("*.py")):
        module = ".".join(path.relative_to(ROOT).with_suffix("").parts)
        if module in (home, "mvlib.__init__") or SAME_NAME.get(module) == name:
            continue
        assert name not in _module_names(path)[0], f"{module}.{name} shadows mvlib.{name}"


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


@pytest.mark.parametrize("method", ["multiview", "contrastive"])
def test_load_model_is_the_encoder_that_embedding_uses(tmp_path, method):
    run = make_run(tmp_path, method=method)
    encoder = mvlib.load_model(run)
    assert isinstance(encoder, torch.nn.Module) and not encoder.training
    assert (encoder.input_dim, encoder.dim, encoder.method) == (N_MELS, N_MELS, method)
    assert encoder.config.model.method == method
    store = LatentStore(tmp_path / "store")
    rows = np.arange(5)
    x = torch.from_numpy(store.get_batch(rows).astype(np.float32))  # (B, T, D_in)
    with torch.inference_mode():
        z = encoder(x)
    assert z.shape == (5, T, N_MELS) and z.dtype == torch.float32

    # what embedding computes with the run's model: per frame, and the probes' clip means
    model, _cfg, _ckpt = load_run_model(run)
    frames = embed_array(model, x[0].numpy())
    want = np.concatenate([frames["z_p"], frames["z_s"]], -1) if "z_p" in frames else frames["z"]
    np.testing.assert_allclose(z[0].numpy(), want, rtol=1e-6, atol=1e-6)
    clips = embed_rows(model, store, rows)
    np.testing.assert_allclose(
        z.mean(dim=1).numpy(), clips["joint" if "z_p" in frames else "z"], rtol=1e-5, atol=1e-6
    )

    with torch.inference_mode():
        z_p = mvlib.load_model(run / "checkpoints" / "last.pt", subspace="z_p")(x)
    if method == "multiview":  # one epoch: last is best; z_p is the first half
        assert z_p.shape == (5, T, N_MELS // 2)
        torch.testing.assert_close(z_p, z[..., : N_MELS // 2])
    else:  # no split: the one embedding, whatever is asked
        torch.testing.assert_close(z_p, z)


def test_load_model_of_a_folder_that_is_no_run_says_so(tmp_path):
    with pytest.raises(mvlib.MvlibError, match="no such checkpoint") as err:
        mvlib.load_model(tmp_path)
    assert "mvlib train" in err.value.fix
