"""From a Config to cached artefacts (mvlib.workflow)."""

import pytest

from mvlib import workflow
from mvlib.core import config
from mvlib.data.dataset import MissingDatasetError, dataset_name, dataset_root, ensure_dataset


def test_sonyc_without_a_root_explains_where_to_get_it():
    cfg = config.read_profile("paper")
    with pytest.raises(MissingDatasetError, match="Zenodo record 3966543"):
        dataset_root(cfg)


def test_sonyc_root_without_annotations_is_an_error(tmp_path):
    cfg = config.read_profile("paper", {"data.root": str(tmp_path)})
    with pytest.raises(MissingDatasetError, match="no annotations.csv"):
        ensure_dataset(cfg)


def test_prepare_makes_dataset_splits_and_store_once(tmp_path, monkeypatch):
    monkeypatch.setenv("MVLIB_CACHE", str(tmp_path))
    cfg = config.read_profile(
        "ci",
        {
            "synth.n_sensors": 6,
            "synth.clips_per_sensor": 4,
            "synth.duration_s": 0.5,
            "split.n_pairs": [8, 4, 4],
        },
    )
    prep = workflow.prepare(cfg, progress=False)
    name = dataset_name(cfg)
    assert prep.root == tmp_path / "datasets" / name
    assert len(prep.store) == len(prep.clips) == 24
    assert prep.store.path.parent == tmp_path / "latents" / name
    assert prep.store.path.name.startswith("logmel128-sr44100-hop512")
    assert prep.store.header["provenance"]["dataset"] == name
    mtime = (prep.store.path / "store.json").stat().st_mtime_ns
    again = workflow.prepare(cfg, progress=False)  # cached: nothing recomputed
    assert (again.store.path / "store.json").stat().st_mtime_ns == mtime
    assert again.splits == prep.splits
