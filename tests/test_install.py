"""mvlib as another researcher installs it: a wheel, outside the checkout (issue 20 §1).

``python -m build`` makes the sdist and, from it, the wheel, out of a copy of what the source
distribution carries (``pyproject.toml``, ``setup.py``, ``mvlib/``, ``params/`` …), so that
the checkout gets no ``build/`` folder and no stale file of it can slip into the wheel. It is
installed with ``pip install --target`` into a folder of its own; every command then runs
from an empty folder outside the checkout, with that folder first on ``PYTHONPATH`` and a
fresh ``MVLIB_CACHE``. The profiles must come from inside the installed package, and the
empty folder must stay empty.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

ROOT = Path(__file__).resolve().parents[1]
#: what the source distribution carries (MANIFEST.in adds params/, LICENSE, CITATION.cff)
SDIST = ["pyproject.toml", "setup.py", "MANIFEST.in", "README.md", "LICENSE", "CITATION.cff"]

pytestmark = pytest.mark.slow


def _version() -> str:
    ns: dict = {}
    exec((ROOT / "mvlib" / "core" / "version.py").read_text(), ns)
    return ns["__version__"]


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """``(site, env, work, tmp)``: the install folder, the environment to run it in, the
    empty working folder and the test's scratch folder."""
    tmp = tmp_path_factory.mktemp("install")
    src = tmp / "src"
    src.mkdir()
    for name in SDIST:
        shutil.copy2(ROOT / name, src / name)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info")
    shutil.copytree(ROOT / "mvlib", src / "mvlib", ignore=ignore)
    shutil.copytree(ROOT / "params", src / "params", ignore=ignore)

    t0 = time.perf_counter()  # the sdist, then the wheel built from the unpacked sdist
    subprocess.run(
        [sys.executable, "-m", "build", "--no-isolation", "--outdir", str(tmp / "dist"), str(src)],
        check=True,
        cwd=tmp,
        capture_output=True,
    )
    built = time.perf_counter() - t0
    (sdist,) = (tmp / "dist").glob("mvlib-*.tar.gz")
    with tarfile.open(sdist) as tar:
        names = tar.getnames()
    assert f"{sdist.name[: -len('.tar.gz')]}/params/ci.yml" in names
    (wheel,) = (tmp / "dist").glob("mvlib-*.whl")
    site = tmp / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(site)]
        + [str(wheel)],
        check=True,
        cwd=tmp,
    )
    print(f"\nsdist and wheel {wheel.name} built in {built:.1f} s", file=sys.stderr)
    size = wheel.stat().st_size  # the shipped codec travels inside it
    assert size <= 15_000_000, f"the wheel is {size / 1e6:.1f} MB (at most 15 MB)"
    print(f"wheel {wheel.name}: {size / 1e6:.2f} MB", file=sys.stderr)

    work = tmp / "work"  # the user's working folder: must stay empty
    work.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("MVLIB_")}
    env.update(PYTHONPATH=str(site), MVLIB_CACHE=str(tmp / "cache"), PYTHONNOUSERSITE="1")
    return site, env, work, tmp


def _mvlib(installed, *args, expect: int = 0) -> subprocess.CompletedProcess:
    site, env, work, _ = installed
    proc = subprocess.run(
        [str(site / "bin" / "mvlib"), *args], cwd=work, env=env, capture_output=True, text=True
    )
    assert proc.returncode == expect, (args, proc.stdout[-2000:], proc.stderr[-3000:])
    return proc


def test_the_installed_wheel_runs_every_command_outside_the_checkout(installed):
    site, env, work, tmp = installed
    # the profiles travel inside the package
    assert (site / "mvlib" / "params" / "ci.yml").read_text() == (
        ROOT / "params" / "ci.yml"
    ).read_text()

    assert _mvlib(installed, "--version").stdout.strip() == f"mvlib {_version()}"
    # the shipped codec travels inside the package, byte for byte
    for name in ("mvlib-codec-22khz.pth", "mvlib-codec-22khz.json"):
        got = site / "mvlib" / "frontend" / "codecs" / name
        assert got.read_bytes() == (ROOT / "mvlib" / "frontend" / "codecs" / name).read_bytes()
    assert "profile: ci" in _mvlib(installed, "config", "--profile", "ci").stdout
    data = Path(_mvlib(installed, "synth", "--profile", "ci", "-q").stdout.strip().splitlines()[-1])
    assert (data / "annotations.csv").is_file() and data.is_relative_to(tmp / "cache")
    store = Path(_mvlib(installed, "extract", "--profile", "ci", "-q").stdout.splitlines()[-1])
    assert (store / "store.json").is_file() and store.is_relative_to(tmp / "cache")
    _mvlib(installed, "store", "verify", str(store), "--data", str(data), "--quick")
    _mvlib(installed, "labels", str(data), "--out", str(tmp / "labels.csv"))
    assert (tmp / "labels.csv").read_text().startswith("audio_filename,")

    out = _mvlib(installed, "train", "--profile", "ci", "--set", "train.epochs=1", "-q").stdout
    run = Path(out.strip().splitlines()[-1])
    assert (run / "done.json").is_file() and run.is_relative_to(tmp / "cache")
    assert json.loads((run / "provenance.json").read_text())["mvlib_version"] == _version()

    _mvlib(installed, "probe", str(run), "-q")
    results = json.loads((run / "results.json").read_text())
    assert results["summary"] and results["git_commit"] is None  # no checkout to ask

    audio = tmp / "audio"
    audio.mkdir()
    t = np.arange(22050) / 22050
    for name, f0 in (("a.wav", 440.0), ("b.wav", 880.0)):
        sf.write(audio / name, 0.1 * np.sin(2 * np.pi * f0 * t), 22050)
    emb = tmp / "embeddings"
    _mvlib(
        installed,
        "embed",
        str(audio / "a.wav"),
        str(audio / "b.wav"),
        "--run",
        str(run),
        "--out",
        str(emb),
        "-q",
    )
    clips = [np.load(emb / f"{n}.npy") for n in ("a", "b")]
    assert clips[0].shape == clips[1].shape and not np.allclose(clips[0], clips[1])

    # the sweep's worker processes import the installed mvlib too
    out = _mvlib(
        installed,
        *("sweep", "--profile", "ci", "--set", "train.epochs=1", "--set", "sweep.workers=2"),
        *("--only", "rec", "--seeds", "0,1", "--no-frontend", "-q"),
    ).stdout
    assert out.count(" rec ") == 2 and "failed" not in out, out

    # what needs the book says so in one line
    err = _mvlib(installed, "sweep", "--profile", "ci", "--papermill", expect=2).stderr
    assert err.count("\n") == 1 and "--papermill" in err and "checkout" in err, err

    assert sorted(os.listdir(work)) == []  # nothing written into the user's folder


def test_the_installed_public_api_imports_from_the_install(installed):
    site, env, work, tmp = installed
    code = (
        "from mvlib import load_config, prepare, train_run, probe_run, run_sweep, embed_files, "
        "compare_runs, register_objective, register_frontend, MvlibError, __version__\n"
        "import mvlib, mvlib.core.cache as c, mvlib.core.resources as r\n"
        "print(mvlib.__file__); print(__version__); print(c.default_cache_root())\n"
        "print(r.checkout_root()); print(r.book_dir()); print(r.params_dir())\n"
    )
    env = {**env, "XDG_CACHE_HOME": str(tmp / "xdg")}
    env.pop("MVLIB_CACHE")
    proc = subprocess.run(
        [sys.executable, "-c", code], cwd=work, env=env, capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    file, version, cache, checkout, book, params = proc.stdout.strip().splitlines()
    assert Path(file).is_relative_to(site), file  # the installed mvlib ran, not the checkout
    assert version == _version()
    assert Path(cache) == tmp / "xdg" / "mvlib"  # a user cache folder, never the working folder
    assert (checkout, book) == ("None", "None")
    assert Path(params) == site / "mvlib" / "params"
    assert sorted(os.listdir(work)) == []
