"""The book's chapters 01–04 on a SONYC-format folder mvlib did not write (CI sizes).

Each chapter runs through papermill as a reader would (`-p profile ci -p data_root DIR`);
the folder, written by tests/foreign_data.py rather than by mvlib's generator, must stay
byte-identical, and every run the chapters made must name that folder in its saved config.
"""

import json
from pathlib import Path

import papermill as pm
import pytest
import yaml
from foreign_data import tree_digest, write_foreign_sonyc

BOOK = Path(__file__).resolve().parents[1] / "book"
CHAPTERS = ("01_data_pairing", "02_dac_extraction", "03_train", "04_ablations")


@pytest.mark.slow
def test_chapters_01_to_04_on_a_foreign_folder_leave_it_byte_identical(tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    monkeypatch.setenv("MVLIB_CACHE", str(cache))
    data = write_foreign_sonyc(tmp_path / "sonyc", n_sensors=6, clips_per_sensor=6, seed=3)
    before = tree_digest(data)
    work = tmp_path / "work"  # an empty folder the chapters run in
    work.mkdir()
    for name in CHAPTERS:
        params = {"profile": "ci", "data_root": str(data)}
        if name == "04_ablations":
            params["seeds"] = [0]
        pm.execute_notebook(
            str(BOOK / f"{name}.ipynb"),
            str(tmp_path / f"{name}.out.ipynb"),
            parameters=params,
            progress_bar=False,
            kernel_name="python3",
            cwd=str(work),  # the reader's folder: no chapter may write into it
        )
        assert tree_digest(data) == before, f"{name} changed the user's folder"
        assert not any(work.iterdir()), f"{name} wrote into its working folder"
    configs = sorted((cache / "runs").rglob("config.yaml"))
    assert configs, "the chapters trained no run"
    for path in configs:
        saved = yaml.safe_load(path.read_text())
        assert saved["data"]["root"] == str(data), path
        assert saved["profile"] == "ci", path
    results = sorted((cache / "runs").rglob("results.json"))
    assert results and all("NaN" not in r.read_text() for r in results)
    assert all(json.loads(r.read_text())["config"]["data"]["root"] == str(data) for r in results)
