"""The ``mvlib`` command line: help, synth → SONYC loader, sharded extract, train."""

import os
import subprocess
import sys

import numpy as np
import pytest

from mvlib import cli
from mvlib.data import sonyc
from mvlib.data.synth.truth import load_truth
from mvlib.data.taxonomy import coarse_label_columns
from mvlib.frontend.store.reader import LatentStore

TINY = [
    "--profile",
    "ci",
    "--set",
    "synth.n_sensors=6",
    "--set",
    "synth.clips_per_sensor=4",
    "--set",
    "synth.duration_s=1.0",
    "-q",
]


def test_console_script_help_lists_commands():
    out = subprocess.run(
        [sys.executable, "-m", "mvlib.cli", "--help"], capture_output=True, text=True, check=True
    ).stdout
    for cmd in ("synth", "extract", "train", "probe", "config"):
        assert cmd in out
    sub = subprocess.run(
        [sys.executable, "-m", "mvlib.cli", "synth", "--help"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "--out" in sub and "SONYC" in sub


def test_synth_then_loader_labels_equal_truth_where_verified(tmp_path, capsys):
    out = tmp_path / "ds"
    assert cli.main(["synth", "--out", str(out), *TINY]) == 0
    clips = sonyc.load_clips(out)
    truth = load_truth(out)["clips"].set_index("audio_filename")
    cols = list(coarse_label_columns())
    verified = clips[clips.label_source == "verified"]
    assert len(verified) > 0
    np.testing.assert_array_equal(
        verified[cols].to_numpy(), truth.loc[verified.clip_id, cols].to_numpy()
    )


def test_sharded_extract_merges_into_one_store(tmp_path):
    ds, store = tmp_path / "ds", tmp_path / "store"
    cli.main(["synth", "--out", str(ds), *TINY])
    for shard in ("0/2", "1/2"):
        assert (
            cli.main(["extract", "--data", str(ds), "--out", str(store), "--shard", shard, *TINY])
            == 0
        )
    s = LatentStore(store)
    assert len(s) == 24 and s.identity["frontend"] == "logmel"
    assert sorted(s.parts()) == ["part-000-of-002", "part-001-of-002"]


def test_config_override_errors_are_clear(capsys):
    assert cli.main(["config", "--set", "train.epochs"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("mvlib: error: --set train.epochs: expects")
    assert cli.main(["config", "--set", "data.root=[unclosed"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "not valid YAML" in err
    assert cli.main(["config", "--profile", "ci", "--set", "train.epochs=7"]) == 0
    assert "epochs: 7" in capsys.readouterr().out


def test_train_and_probe_from_the_command_line(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("MVLIB_CACHE", str(tmp_path / "cache"))
    args = [
        *TINY,
        "--set",
        "train.epochs=1",
        "--set",
        "split.n_pairs=[32,8,8]",
        "--set",
        "split.sensor_fractions=[0.5,0.17,0.33]",
        "--set",
        "probe.epochs=3",
    ]
    assert cli.main(["train", "--run-dir", str(tmp_path / "run"), *args]) == 0
    assert (tmp_path / "run" / "done.json").exists()
    assert cli.main(["probe", str(tmp_path / "run"), "-q"]) == 0
    assert (tmp_path / "run" / "results.json").exists()
    assert '"sensor_accuracy"' in capsys.readouterr().out


def test_a_clip_shorter_than_the_crop_prints_one_line(tmp_path):
    """Issue 20: ``train.crop_frames`` longer than the clips ends in one line naming the
    clips and the fix (exit 2), not a traceback; run as a user runs it, in a subprocess."""
    env = {**os.environ, "MVLIB_CACHE": str(tmp_path / "cache")}
    args = [*TINY, "--set", "train.epochs=1", "--set", "split.n_pairs=[32,8,8]"]
    args += ["--set", "train.crop_frames=100000"]
    cmd = [sys.executable, "-m", "mvlib", "train", "--run-dir", str(tmp_path / "run"), *args]
    done = subprocess.run(cmd, capture_output=True, text=True, cwd=tmp_path, env=env)
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert [ln for ln in lines if ln.startswith("mvlib: error:")] == lines[-1:]
    line = lines[-1]
    assert line.startswith("mvlib: error: clip(s) ") and ".wav (" in line
    assert "shorter than the crop of train.crop_frames=100000 frames" in line
    # the fix names the longest crop every clip allows: the store's shortest clip
    (store,) = (tmp_path / "cache" / "latents").glob("*/*")
    shortest = int(LatentStore(store).frames.min())
    assert line.endswith(
        f"lower train.crop_frames to at most {shortest}, or drop or lengthen the clip(s)"
    )
    assert not (tmp_path / "run" / "done.json").exists()


BROKEN_OBJECTIVES = """
import mvlib
from mvlib.ml.losses import reconstruction_terms


@mvlib.register_objective("no_total")
def no_total(out, x1, x2, cfg, gather):
    return reconstruction_terms(out, x1, x2)  # rec1, rec2, rec: no "total"


@mvlib.register_objective("detached_total")
def detached_total(out, x1, x2, cfg, gather):
    terms = reconstruction_terms(out, x1, x2)
    return {**terms, "total": terms["rec"].detach()}  # no gradient reaches the model
"""


@pytest.mark.parametrize(
    "name, wrong",
    [
        ("no_total", "returned no 'total' (terms: rec1, rec2, rec)"),
        ("detached_total", "returned a 'total' without a gradient"),
    ],
)
def test_a_plugin_objective_that_breaks_its_contract_prints_one_line(tmp_path, name, wrong):
    """Issue 26: an objective that returns no ``total``, or one no gradient flows through,
    ends in one line naming the objective and what it must return (exit 2), not a
    traceback; run as a user runs it, in a subprocess."""
    plugin = tmp_path / "broken_objectives.py"
    plugin.write_text(BROKEN_OBJECTIVES)
    env = {**os.environ, "MVLIB_CACHE": str(tmp_path / "cache")}
    args = [*TINY, "--set", "train.epochs=1", "--set", "split.n_pairs=[32,8,8]"]
    args += ["--set", f"plugins=[{plugin}]", "--set", f"objective.objective={name}"]
    cmd = [sys.executable, "-m", "mvlib", "train", "--run-dir", str(tmp_path / "run"), *args]
    done = subprocess.run(cmd, capture_output=True, text=True, cwd=tmp_path, env=env)
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert [ln for ln in lines if ln.startswith("mvlib: error:")] == lines[-1:]
    culprit = f"mvlib: error: objective {name!r} (mvlib_plugin_broken_objectives.{name}): "
    assert lines[-1].startswith(culprit + wrong)
    assert lines[-1].endswith(
        "; return a dict of loss terms whose 'total' is a scalar Tensor computed from the "
        "model's output (out), so that training can back-propagate it; see book/extending.md"
    )
