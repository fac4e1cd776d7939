"""`mvlib worlds`: the central comparisons in every world x frontend, through the CLI (mvlib.worlds)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from mvlib.frontend.choice import load_config
from mvlib.worlds import CANDIDATES, WORLDS, cell_config

ROOT = Path(__file__).resolve().parents[1]


def _mvlib(args, cache: Path, timeout=600):
    env = {**os.environ, "MVLIB_CACHE": str(cache), "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-m", "mvlib", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_a_cell_is_its_world_on_its_frontend():
    cfg = load_config("ci")
    dev = cell_config(cfg, "devices", "codec")
    assert dev.synth.compression == WORLDS["devices"][0]["compression"]
    assert dev.synth.self_noise == 0.0 and dev.features.frontend == "dac"
    assert dev.features.dac_weights == "mvlib-codec-22khz" and dev.features.sample_rate == 22050
    lin = cell_config(cfg.replace({"synth.clipping": 0.9}), "linear", "logmel")
    assert lin.synth.clipping == 0.0  # the world sets every strength, not only its own


@pytest.mark.slow
def test_mvlib_worlds_compares_the_best_multiview_in_each_cell(tmp_path):
    cache, out = tmp_path / "cache", tmp_path / "w.json"
    args = ["worlds", "--profile", "ci", "--set", "sweep.split_seeds=[0, 1]", "-q"]
    args += ["--worlds", "linear,noisy", "--frontends", "logmel", "--out", str(out)]
    res = _mvlib(args, cache)
    assert res.returncode == 0, res.stderr[-3000:]
    study = json.loads(out.read_text())
    assert [(c["world"], c["frontend"]) for c in study["cells"]] == [
        ("linear", "logmel"),
        ("noisy", "logmel"),
    ]
    m = sum(len(c["comparisons"]) for c in study["cells"])
    assert m == 2 * 2 * 2  # two cells x (frontend only, rec) x two tasks
    for c in study["cells"]:
        assert c["best_multiview_on_validation"] in CANDIDATES
        for r in c["comparisons"]:
            assert r["ci_low"] <= r["estimate"] <= r["ci_high"]
            assert r["n_units"] == 4  # 2 split seeds x 2 seeds
            assert r["p"] is None or r["p_holm"] >= r["p"]  # None: no variation (best is rec)
            assert r["verdict"] in ("better", "worse", "not resolved", "too few units")
    # the two worlds are two data sets, and both cells' runs are kept for a rerun
    sets = [p.name for p in (cache / "datasets").iterdir() if p.name.startswith("synth-")]
    assert len(sets) == 2
    runs = sorted((cache / "runs" / "ci").iterdir())
    assert len(runs) == 2 * (len(CANDIDATES) * 4 + 4)
    again = _mvlib(args, cache, timeout=300)  # resumes: every run reused, same verdicts
    assert again.returncode == 0, again.stderr[-3000:]
    assert sorted((cache / "runs" / "ci").iterdir()) == runs
    redo = json.loads(out.read_text())
    assert [r["estimate"] for c in redo["cells"] for r in c["comparisons"]] == [
        r["estimate"] for c in study["cells"] for r in c["comparisons"]
    ]


def test_an_unknown_world_is_refused_in_one_line_before_any_work(tmp_path):
    res = _mvlib(["worlds", "--profile", "ci", "--worlds", "linear,mars"], tmp_path / "c")
    assert res.returncode == 2
    assert res.stderr.strip() == (
        f"mvlib: error: world 'mars': no such world; use one of {list(WORLDS)}"
    )
    assert not (tmp_path / "c" / "datasets").exists()
