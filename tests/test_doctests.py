"""Every docstring example in ``mvlib`` runs as a doctest, and says what it prints.

The examples of the public API build what they need from a tiny ``ci`` config (36 synthetic
clips, one epoch). The ones that use a trained run (``result``), two probed runs to compare
(``runs/rec``, ``runs/mine``) or audio files (``a.wav``, ``b.wav``) find them in the
working folder and the globals that :func:`workdir` prepares once, in a cache of its own.
"""

from __future__ import annotations

import doctest
import importlib
import io
import warnings
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

import mvlib
from mvlib.core.registry import FRONTENDS, OBJECTIVES

ROOT = Path(__file__).resolve().parents[1]
#: every module of mvlib whose docstrings hold an example
MODULES = sorted(
    ".".join(p.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
    for p in (ROOT / "mvlib").rglob("*.py")
    if ">>> " in p.read_text()
)
#: modules whose examples are all ``+SKIP``, and why
ALL_SKIPPED = {"mvlib.report.widgets": "draws live ipywidgets: needs a running Jupyter kernel"}
#: the tiny config of the examples (``tiny`` and ``"train.epochs": 1`` in mvlib/api.py)
TINY = {"synth.n_sensors": 6, "synth.clips_per_sensor": 6, "train.epochs": 1}
FLAGS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    """The examples' world: a cache, ``a.wav`` and ``b.wav``, ``result`` and two probed runs."""
    root = tmp_path_factory.mktemp("doctest")
    mp = pytest.MonkeyPatch()
    mp.setenv("MVLIB_CACHE", str(root / "cache"))
    mp.chdir(root)
    try:
        t = np.arange(22050) / 22050
        for name, f0 in (("a.wav", 440.0), ("b.wav", 880.0)):
            sf.write(root / name, 0.1 * np.sin(2 * np.pi * f0 * t), 22050)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the tiny set has fewer pairs than ci asks for
            cfg = mvlib.load_config("ci", TINY)
            result = mvlib.train_run(cfg, progress=False)  # the run train_run's example makes
            mvlib.probe_run(result.run_dir, progress=False)
            (root / "runs").mkdir()
            (root / "runs" / "rec").symlink_to(result.run_dir, target_is_directory=True)
            mine = cfg.replace({"objective.objective": "cos_minus"})
            mine_dir = mvlib.train_run(mine, run_dir=root / "runs" / "mine", progress=False)
            mvlib.probe_run(mine_dir.run_dir, progress=False)
        yield {"result": result}
    finally:
        mp.undo()


@pytest.fixture
def registries():
    """The registries as they were before the test (the examples' registrations removed)."""
    before = {reg: dict(reg._entries) for reg in (OBJECTIVES, FRONTENDS)}
    yield
    for reg, entries in before.items():
        reg._entries.clear()
        reg._entries.update(entries)


def test_the_public_api_is_among_the_modules_with_examples():
    homes = {getattr(mvlib, n).__module__ for n in mvlib.__all__ if n != "__version__"}
    assert homes <= set(MODULES), homes - set(MODULES)
    for home in homes:  # the public examples run whole: none is skipped
        path = ROOT / Path(*home.split(".")).with_suffix(".py")
        assert "+SKIP" not in path.read_text(), f"{home}: an example is skipped"


@pytest.mark.slow
@pytest.mark.parametrize("module", MODULES)
def test_docstring_examples_run(module, workdir, registries):
    tests = doctest.DocTestFinder().find(importlib.import_module(module), extraglobs=workdir)
    runner = doctest.DocTestRunner(optionflags=FLAGS)
    out = io.StringIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for test in tests:
            runner.run(test, out=out.write)
    failed, attempted = runner.summarize(verbose=False)
    assert failed == 0, out.getvalue()
    assert attempted > 0 or module in ALL_SKIPPED, f"{module}: no example ran"
