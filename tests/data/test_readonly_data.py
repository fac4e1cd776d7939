"""A dataset folder mvlib did not create is read-only (issue 15): synth, ensure_dataset, names."""

import logging

import pytest
from foreign_data import tree_digest, write_foreign_sonyc

from mvlib.cli import main
from mvlib.core import config
from mvlib.core.errors import MvlibError
from mvlib.data import dataset
from mvlib.data.synth.folder import DatasetFolderError, folder_state
from mvlib.data.synth.generation import generate
from mvlib.data.synth.plan import set_name
from mvlib.data.synth.truth import has_ground_truth

TINY = {
    "synth.n_sensors": 4,
    "synth.clips_per_sensor": 3,
    "synth.duration_s": 0.5,
    "synth.sample_rate": 8000,
}


def _cfg(root=None, source="synth", **more):
    over = {**TINY, "data.source": source, **more}
    if root is not None:
        over["data.root"] = str(root)
    return config.read_profile("ci", over)


def test_synth_out_on_a_foreign_dataset_is_refused_and_changes_nothing(tmp_path, capsys):
    root = write_foreign_sonyc(tmp_path / "mine", n_sensors=3, clips_per_sensor=2)
    before = tree_digest(root)
    rc = main(["synth", "--profile", "ci", "--out", str(root), "-q"])
    err = capsys.readouterr().err.strip()
    assert rc == 2
    assert err.startswith(f"mvlib: error: {root}: holds a dataset that mvlib did not generate")
    assert "--set data.root=" in err and "\n" not in err
    assert tree_digest(root) == before


def test_synth_refuses_a_folder_of_other_files(tmp_path):
    (tmp_path / "x").mkdir()
    (tmp_path / "x" / "notes.txt").write_text("mine")
    with pytest.raises(DatasetFolderError, match="holds files that mvlib did not write"):
        generate(_cfg().synth, tmp_path / "x", progress=False)
    assert (tmp_path / "x" / "notes.txt").read_text() == "mine"
    assert sorted(p.name for p in (tmp_path / "x").iterdir()) == ["notes.txt"]


@pytest.mark.parametrize("source", ["synth", "sonyc"])
def test_a_folder_with_a_dataset_is_used_whatever_data_source_says(tmp_path, source):
    root = write_foreign_sonyc(tmp_path / "mine", n_sensors=3, clips_per_sensor=2)
    before = tree_digest(root)
    cfg = _cfg(root, source)
    assert dataset.ensure_dataset(cfg, progress=False) == root
    clips = dataset.load_dataset(cfg, progress=False)
    assert len(clips) == 6 and set(clips["sensor_id"]) == {"100", "101", "102"}
    assert tree_digest(root) == before


def test_data_source_decides_only_when_no_dataset_exists(tmp_path):
    with pytest.raises(dataset.MissingDatasetError) as e:
        dataset.ensure_dataset(_cfg(tmp_path / "none", "sonyc"), progress=False)
    assert e.value.culprit == str(tmp_path / "none") and "no such folder" in e.value.what
    assert "data.root" in e.value.fix and not (tmp_path / "none").exists()
    root = dataset.ensure_dataset(_cfg(tmp_path / "new", "synth"), progress=False)
    assert (root / "annotations.csv").is_file() and (root / "synth.json").is_file()
    assert folder_state(root, _cfg().synth)[0] == "complete"


def test_a_users_edit_of_a_generated_set_is_never_reverted(tmp_path, caplog):
    cfg = _cfg(tmp_path / "gen")
    root = dataset.ensure_dataset(cfg, progress=False)
    # the user removes sensor 0: its rows and its audio
    lines = (root / "annotations.csv").read_text().splitlines(keepends=True)
    kept = [lines[0]] + [ln for ln in lines[1:] if not ln.split(",")[2].startswith("00_")]
    assert len(kept) < len(lines)
    (root / "annotations.csv").write_text("".join(kept))
    for p in (root / "audio").glob("00_*.wav"):
        p.unlink()
    before = tree_digest(root)
    with caplog.at_level(logging.WARNING):
        clips = dataset.load_dataset(cfg, progress=False)
    assert "0" not in set(clips["sensor_id"].astype(str))
    assert any("changed since mvlib generated it" in r.getMessage() for r in caplog.records)
    assert tree_digest(root) == before
    with pytest.raises(DatasetFolderError, match="does not revert your edits") as e:
        generate(cfg.synth, root, progress=False)
    assert "--repair" in e.value.fix
    assert tree_digest(root) == before
    generate(cfg.synth, root, progress=False, repair=True)  # asked for: rewritten
    assert folder_state(root, cfg.synth)[0] == "complete"


def test_two_folders_of_one_name_never_share_a_store(tmp_path):
    a = write_foreign_sonyc(tmp_path / "a" / "ds", n_sensors=3, clips_per_sensor=2, seed=1)
    b = write_foreign_sonyc(tmp_path / "b" / "ds", n_sensors=3, clips_per_sensor=2, seed=2)
    na, nb = dataset.dataset_name(_cfg(a, "sonyc")), dataset.dataset_name(_cfg(b, "sonyc"))
    assert na != nb and na.startswith("ds-") and nb.startswith("ds-")
    # the same folder is one dataset whichever source the profile names
    assert dataset.dataset_name(_cfg(a, "synth")) == na
    # a generated set's name also carries its generator settings
    gen = dataset.ensure_dataset(_cfg(tmp_path / "g"), progress=False)
    assert dataset.dataset_name(_cfg(gen)).endswith(set_name(_cfg().synth))


def test_dataset_errors_are_mvlib_errors():
    assert issubclass(dataset.MissingDatasetError, MvlibError)
    assert issubclass(DatasetFolderError, MvlibError)
    with pytest.raises(dataset.MissingDatasetError, match="Zenodo record 3966543"):
        dataset.dataset_root(config.read_profile("paper"))


def test_ground_truth_only_for_our_unchanged_sets(tmp_path):
    foreign = write_foreign_sonyc(tmp_path / "mine", n_sensors=3, clips_per_sensor=2)
    assert not has_ground_truth(foreign)
    gen = dataset.ensure_dataset(_cfg(tmp_path / "gen"), progress=False)
    assert has_ground_truth(gen)
    next((gen / "audio").glob("*.wav")).unlink()
    assert not has_ground_truth(gen)  # truth.json no longer describes the files
