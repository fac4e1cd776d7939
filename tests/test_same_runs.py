"""benchmarks/same_runs.py: two sweeps' runs compared bit for bit, matched by configuration."""

import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
import same_runs  # noqa: E402  (benchmarks/same_runs.py: a script, not a package)


def _run(folder: Path, name: str, seed: int, scores: np.ndarray) -> None:
    run = folder / name
    run.mkdir(parents=True)
    summary = {"method": "multiview", "objective": "rec", "seed": seed, "sensor_accuracy": 0.5}
    (run / "results.json").write_text(json.dumps({"summary": summary}))
    np.savez(run / "predictions.npz", scores=scores, clip_id=np.array(["a.wav", "b.wav"]))


def test_same_runs_pass_and_a_changed_prediction_fails(tmp_path, capsys):
    s = np.array([0.25, np.nan])
    for side, name in (("a", "multiview-rec-seed0-aaaa"), ("b", "multiview-rec-seed0-bbbb")):
        _run(tmp_path / side, name, 0, s)  # folder names differ (config hash): matched by config
    assert same_runs.main([str(tmp_path / "a"), str(tmp_path / "b")]) == 0
    assert "1 of 1 runs identical (2 prediction arrays compared)" in capsys.readouterr().out
    _run(tmp_path / "b", "multiview-rec-seed1-cccc", 1, s)
    _run(tmp_path / "a", "multiview-rec-seed1-dddd", 1, s + 1e-7)  # the same run, one float off
    assert same_runs.main([str(tmp_path / "a"), str(tmp_path / "b")]) == 1
    out = capsys.readouterr().out
    assert "scores differs" in out and "1 differ" in out
