"""`mvlib sweep` on a researcher's own SONYC-format folder with a profile file beside it."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from foreign_data import tree_digest, write_foreign_sonyc

from mvlib import cli

ROOT = Path(__file__).resolve().parents[1]


def _profile(folder: Path, data: Path) -> Path:
    """A profile outside params/, beside the user's data: ci with their folder, one seed."""
    text = {
        "inherits": "ci",  # a profile name under params/, from a file outside it
        "data": {"source": "sonyc", "root": str(data)},
        "train": {"epochs": 3, "patience": 1, "steps_per_epoch": 4},
        "probe": {"epochs": 5},
        "sweep": {"seeds": [0], "workers": 2},
    }
    path = folder / "my-sonyc.yml"
    path.write_text(yaml.safe_dump(text))
    return path


@pytest.mark.slow
def test_mvlib_sweep_on_a_foreign_folder_runs_the_profile_it_was_given(tmp_path):
    data = write_foreign_sonyc(tmp_path / "mydata" / "sonyc", n_sensors=6, clips_per_sensor=6)
    before = tree_digest(data)
    profile = _profile(tmp_path / "mydata", data)
    cache = tmp_path / "cache"
    env = {**os.environ, "MVLIB_CACHE": str(cache), "PYTHONPATH": str(ROOT)}
    only = ["rec", "singleview AE"]
    cmd = [sys.executable, "-m", "mvlib", "sweep", "--profile", str(profile), "-q"]
    for name in only:
        cmd += ["--only", name]
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    assert "failed" not in out.stdout
    runs = sorted((cache / "runs" / "my-sonyc").iterdir())
    trained = [r for r in runs if not r.name.startswith("frontend-")]
    assert len(trained) == len(only) and len(runs) == len(only) + 1
    for run in runs:
        saved = yaml.safe_load((run / "config.yaml").read_text()) if run in trained else None
        res = json.loads((run / "results.json").read_text())
        assert not (run / "failed.json").exists()
        for cfg in [c for c in (saved, res["config"]) if c is not None]:
            assert cfg["profile"] == "my-sonyc"
            assert cfg["data"]["source"] == "sonyc" and cfg["data"]["root"] == str(data)
            assert cfg["sweep"]["seeds"] == [0] and cfg["synth"]["n_sensors"] == 12  # ci's
            assert cfg["probe"]["epochs"] == 5
        if saved is not None:
            assert saved["train"]["epochs"] == 3 and saved["train"]["steps_per_epoch"] == 4
            assert saved == yaml.safe_load((run / "sweep-config.yaml").read_text())
            done = json.loads((run / "done.json").read_text())
            assert done["optimiser_steps"] == 4 * done["epochs_run"]
        assert res["summary"]["data"].startswith("folder:sonyc-")  # names the folder
    assert tree_digest(data) == before  # the user's folder is untouched
    # a rerun skips every finished run
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0 and out.stdout.count("skipped (done)") == len(only)


def test_sweep_command_refuses_an_unknown_configuration(capsys):
    assert cli.main(["sweep", "--profile", "ci", "--only", "nope", "-q"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("mvlib: error: --only 'nope': no such configuration; use one of")


@pytest.mark.slow
def test_papermill_runs_get_the_config_file_not_a_profile_name(tmp_path, monkeypatch):
    from mvlib import sweep
    from mvlib.core.config import read_profile

    monkeypatch.setenv("MVLIB_CACHE", str(tmp_path / "cache"))
    data = write_foreign_sonyc(tmp_path / "own", n_sensors=6, clips_per_sensor=6)
    # a profile given as a path outside params/, plus overrides the profile does not hold
    cfg = read_profile(_profile(tmp_path, data), {"train.lr": 0.002, "train.epochs": 2})
    entry = sweep.grid((0.4,))[0]
    st = sweep.run_plan(
        cfg, [entry], seeds=[1], workers=1, progress=False, executor=sweep.execute_notebook
    )
    assert list(st.status) == ["done"], st.to_dict("records")
    run = Path(st.run_dir.iloc[0])
    assert (run / "train.ipynb").exists() and (run / "results.json").exists()
    saved = yaml.safe_load((run / "config.yaml").read_text())
    assert saved["train"]["lr"] == 0.002 and saved["data"]["root"] == str(data)
    assert saved["split"]["pair_seed"] == 1 and saved["profile"] == "my-sonyc"
