"""``mvlib compare``: the paired table of a user's runs, and its refusals, through the CLI."""

from __future__ import annotations

import hashlib
import io
import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import mvlib
from mvlib import cli
from mvlib.compare import compare_runs, find_runs

#: the CI profile, shrunk to a few seconds of training and probing per run
TINY = [
    "--profile",
    "ci",
    "--set",
    "synth.n_sensors=6",
    "--set",
    "synth.clips_per_sensor=4",
    "--set",
    "synth.duration_s=1.0",
    "--set",
    "train.epochs=1",
    "--set",
    "split.n_pairs=[32,8,8]",
    "--set",
    "split.sensor_fractions=[0.5,0.17,0.33]",
    "--set",
    "probe.epochs=3",
    "-q",
]


def _train_and_probe(run, *extra):
    assert cli.main(["train", "--run-dir", str(run), *TINY, *extra]) == 0
    assert cli.main(["probe", str(run), "-q"]) == 0


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Two objectives on the same data (rec, cos−) and rec on another synthetic set."""
    root = tmp_path_factory.mktemp("compare")
    mp = pytest.MonkeyPatch()
    mp.setenv("MVLIB_CACHE", str(root / "cache"))
    try:
        _train_and_probe(root / "rec")
        _train_and_probe(root / "cosm", "--set", "objective.objective=cos_minus")
        _train_and_probe(root / "other", "--set", "synth.seed=1")
    finally:
        mp.undo()
    return root


def test_compare_two_ci_runs_prints_and_writes_the_paired_table(runs, tmp_path, capsys):
    out = tmp_path / "table.csv"
    argv = ["compare", str(runs / "rec"), str(runs / "cosm"), "--reference", "rec"]
    assert cli.main([*argv, "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "rec" in text and "rec + cos- sample" in text
    assert "reference" in text and "MDD" in text
    csv = pd.read_csv(out)
    assert list(csv["configuration"]) == ["rec", "rec + cos- sample"]
    # the CSV's numbers are the runs' own: each row's score is its run's test score
    res = json.loads((runs / "cosm" / "results.json").read_text())["summary"]
    row = csv[csv["configuration"] == "rec + cos- sample"].iloc[0]
    assert row["sensor_accuracy"] == pytest.approx(res["sensor_accuracy"], abs=1e-9)
    assert row["source_jaccard"] == pytest.approx(res["source_jaccard"], abs=1e-9)
    # the paired Δ is row − reference on the same clips
    ref = json.loads((runs / "rec" / "results.json").read_text())["summary"]
    want = res["sensor_accuracy"] - ref["sensor_accuracy"]
    assert row["delta_sensor_estimate"] == pytest.approx(want, abs=1e-9)
    # one unit (seed) per configuration: no verdict can rest on it
    assert not bool(row["delta_sensor_resolvable"])
    # the file is only replaced when asked
    assert cli.main([*argv, "--out", str(out)]) == 2
    assert "already exists" in capsys.readouterr().err
    # nothing written without --out; the reference may be given as a run folder
    table = compare_runs([runs / "rec", runs / "cosm"], str(runs / "cosm"))
    assert table.reference == "rec + cos- sample"
    assert mvlib.compare_runs is compare_runs  # the public name


def test_compare_refuses_runs_of_another_dataset_in_one_line(runs, capsys):
    argv = ["compare", str(runs / "rec"), str(runs / "other"), "--reference", "rec"]
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("mvlib: error: ")
    assert str(runs / "other") in err and "other data" in err


def test_compare_refuses_another_test_partition(runs, tmp_path, capsys):
    # a copy of the cos− run probed on one test clip fewer (its hash updated, so that only
    # the partition differs)
    moved = tmp_path / "cosm-fewer"
    shutil.copytree(runs / "cosm", moved)
    res = json.loads((moved / "results.json").read_text())
    with np.load(moved / res["predictions"]["file"]) as z:
        arrays = {k: z[k] for k in z.files}
    keep = slice(1, None)
    for k in list(arrays):
        if k.endswith(".test") or ".test." in k:
            arrays[k] = arrays[k][keep]
    buf = io.BytesIO()
    np.savez_compressed(buf, **arrays)
    (moved / res["predictions"]["file"]).write_bytes(buf.getvalue())
    res["predictions"]["sha256"] = hashlib.sha256(buf.getvalue()).hexdigest()
    (moved / "results.json").write_text(json.dumps(res))
    argv = ["compare", str(runs / "rec"), str(moved), "--reference", "rec"]
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "another test partition" in err and str(moved) in err


def test_compare_names_unknown_references_and_non_runs(runs, tmp_path, capsys):
    argv = ["compare", str(runs / "rec"), str(runs / "cosm"), "--reference", "nope"]
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert "is not one of the configurations compared: ['rec', 'rec + cos- sample']" in err
    (tmp_path / "empty").mkdir()
    assert cli.main(["compare", str(tmp_path / "empty"), "--reference", "x"]) == 2
    assert "is not a probed run" in capsys.readouterr().err
    # a folder of runs is searched
    assert len(find_runs([runs])) == 3


PLUGIN = Path(__file__).resolve().parent / "fixtures" / "plugins" / "shared_l1.py"


def test_a_users_objective_from_outside_mvlib_trains_and_is_compared_with_rec(
    runs, tmp_path, capsys, monkeypatch
):
    # book/extending.md's worked example: the objective lives in the user's own file
    monkeypatch.setenv("MVLIB_CACHE", str(runs / "cache"))
    run = tmp_path / "shared_l1"
    plugin = ["--set", f"plugins=[{PLUGIN}]", "--set", "objective.objective=shared_l1"]
    _train_and_probe(run, *plugin)
    capsys.readouterr()
    out = tmp_path / "table.csv"
    argv = ["compare", str(runs / "rec"), str(run), "--reference", "rec"]
    assert cli.main([*argv, "--out", str(out)]) == 0
    assert "shared_l1" in capsys.readouterr().out
    csv = pd.read_csv(out)
    assert any("shared_l1" in c for c in csv["configuration"])
    res = json.loads((run / "results.json").read_text())["summary"]
    row = csv[csv["configuration"].str.contains("shared_l1")].iloc[0]
    assert row["sensor_accuracy"] == pytest.approx(res["sensor_accuracy"], abs=1e-9)


def test_a_sweeps_runs_folder_keeps_the_frontend_baseline_apart_from_rec(
    tmp_path, monkeypatch, capsys
):
    # the baseline's results.json carries the sweep's base config, which is rec's: only its
    # method ("frontend") tells the two apart, and each row must keep its own scores
    cache = tmp_path / "cache"
    monkeypatch.setenv("MVLIB_CACHE", str(cache))
    # (the ci profile's sensors: TINY's six leave chapter 5's ground truth undefined)
    small = ["--set", "synth.clips_per_sensor=4", "--set", "synth.duration_s=1.0"]
    small += ["--set", "train.epochs=1", "--set", "probe.epochs=3", "-q"]
    argv = ["sweep", "--profile", "ci", *small, "--seeds", "0", "--workers", "1"]
    assert cli.main([*argv, "--only", "rec"]) == 0
    folder = cache / "runs"
    summaries = {}
    for run in find_runs([folder]):
        s = json.loads((run / "results.json").read_text())["summary"]
        summaries["rec" if s["method"] != "frontend" else f"frontend {s['frontend']}"] = s
    assert len(summaries) == 2, summaries.keys()
    baseline = next(k for k in summaries if k != "rec")
    capsys.readouterr()
    for reference in ("rec", baseline):
        out = tmp_path / f"{snake_name(reference)}.csv"
        argv = ["compare", str(folder), "--reference", reference, "--out", str(out)]
        assert cli.main(argv) == 0, capsys.readouterr().err
        csv = pd.read_csv(out).set_index("configuration")
        assert sorted(csv.index) == sorted(summaries)
        for name, s in summaries.items():
            assert csv.loc[name, "sensor_accuracy"] == pytest.approx(s["sensor_accuracy"])
            assert csv.loc[name, "source_jaccard"] == pytest.approx(s["source_jaccard"])
        other = next(k for k in summaries if k != reference)
        want = summaries[other]["sensor_accuracy"] - summaries[reference]["sensor_accuracy"]
        assert csv.loc[other, "delta_sensor_estimate"] == pytest.approx(want, abs=1e-9)


def snake_name(text: str) -> str:
    return "".join(c if c.isalnum() else "_" for c in text)
