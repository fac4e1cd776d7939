"""End to end on a SONYC-format folder that mvlib did not write: it stays byte-identical.

The folder comes from tests/foreign_data.py (not mvlib's generator): mixed sample rates,
mono and stereo, a validate clip without a verified row, and one wav cut short. Every step
runs through the command line, as a user would, with ``--set data.root=DIR``.
"""

import json

import pytest
from foreign_data import tree_digest, write_foreign_sonyc

from mvlib.cli import main
from mvlib.frontend.store.reader import LatentStore


def _cut_short(path):
    blob = path.read_bytes()
    path.write_bytes(blob[: 44 + (len(blob) - 44) // 3])  # header intact, 1/3 of the data


def _drop_verified_row(root, clip):
    lines = (root / "annotations.csv").read_text().splitlines(keepends=True)
    kept = [ln for ln in lines if f",{clip},0," not in ln]
    assert len(kept) == len(lines) - 1
    (root / "annotations.csv").write_text("".join(kept))


@pytest.mark.slow
def test_foreign_folder_synth_extract_train_probe_leaves_it_byte_identical(
    tmp_path, monkeypatch, capsys, caplog
):
    monkeypatch.setenv("MVLIB_CACHE", str(tmp_path / "cache"))
    root = write_foreign_sonyc(tmp_path / "mine", n_sensors=6, clips_per_sensor=4, seed=7)
    _cut_short(root / "audio" / "01_000002.wav")
    _drop_verified_row(root, "03_000001.wav")
    before = tree_digest(root)
    assert len(before) == 25

    # generation refuses the folder: it holds a dataset mvlib did not generate
    assert main(["synth", "--profile", "ci", "--out", str(root), "-q"]) == 2
    assert "holds a dataset that mvlib did not generate" in capsys.readouterr().err
    assert tree_digest(root) == before

    common = ["--profile", "ci", "--set", f"data.root={root}", "-q"]
    small = ["--set", "train.epochs=1", "--set", "probe.epochs=5"]
    assert main(["extract", *common]) == 0
    capsys.readouterr()

    runs = {}
    for source in ("sonyc", "synth"):  # data.source does not decide what a dataset is
        run_dir = tmp_path / f"run-{source}"
        argv = ["train", *common, *small, "--set", f"data.source={source}"]
        assert main([*argv, "--run-dir", str(run_dir)]) == 0
        runs[source] = run_dir
        assert main(["probe", str(run_dir), "-q"]) == 0
        capsys.readouterr()
        results = json.loads((run_dir / "results.json").read_text(), parse_constant=_no_nan)
        assert results["config"]["data"]["root"] == str(root)
        assert results["summary"]["finished"] is True
        assert 0.0 <= results["summary"]["source_jaccard"] <= 1.0
        splits = json.loads((run_dir / "splits.json").read_text())
        # the cut-short clip is neither paired nor probed; the unverified one is not probed
        assert "01_000002.wav" not in splits["clip_ids"]
        down = dict(zip(splits["clip_ids"], splits["downstream"]))
        assert down.get("03_000001.wav", "") == ""
        assert len(splits["clip_ids"]) == 23

    # both runs used one store of that folder (named by its path, not by data.source)
    prov = [json.loads((r / "provenance.json").read_text()) for r in runs.values()]
    assert prov[0]["store"] == prov[1]["store"] and prov[0]["dataset"].startswith("mine-")
    bad = LatentStore(prov[0]["store"]).bad().set_index("clip_id")["reason"]
    assert (
        list(bad.index) == ["01_000002.wav"] and "truncated: the WAV header promises" in bad.iloc[0]
    )
    assert tree_digest(root) == before


def _no_nan(constant):
    raise AssertionError(f"results.json holds {constant}: not strict JSON")
