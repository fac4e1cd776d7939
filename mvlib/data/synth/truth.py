"""Ground truth of a synthetic set: ``truth.json``, and how labels compare with it.

The generator knows what each clip holds (its sources, their fine classes, proximity and
SNR, and the clip's channel drift) and writes it to ``truth.json``; :func:`load_truth`
reads it back, :func:`label_agreement` scores aggregated crowd labels against it.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict
from pathlib import Path

import pandas as pd

from mvlib.data import taxonomy
from mvlib.data.labels import label_matrix
from mvlib.data.synth.folder import DatasetFolderError, folder_state
from mvlib.data.synth.plan import audio_filename


def truth_clip(sensor: int, clip: int, dataset_split: str, plan: dict) -> dict:
    """One clip's entry of ``truth.json``: labels, per-class fine class, proximity, SNR; drift."""
    name = audio_filename(sensor, clip)
    d = {
        "clip_id": Path(name).stem,
        "audio_filename": name,
        "sensor_id": sensor,
        "clip_index": clip,
        "split": dataset_split,
    }
    by_class = {ev.coarse: ev for ev in plan["sources"]}
    for c, col in enumerate(taxonomy.coarse_label_columns(), start=1):
        ev = by_class.get(c)
        d[col] = int(ev is not None)
        d[f"{col}_fine"] = ev.fine if ev else ""
        d[f"{col}_proximity"] = ev.proximity if ev else ""
        d[f"{col}_snr_db"] = ev.snr_db if ev else None
    d.update(plan["drift"])
    d["sources"] = [asdict(ev) for ev in plan["sources"]]
    return d


def has_ground_truth(root: str | os.PathLike) -> bool:
    """True for a set this generator wrote and finished, unchanged since: its truth.json holds.

    A folder of other data (a copy of SONYC-UST-V2) has no ground truth, and an edited set's
    truth.json does not describe its files.
    """
    try:
        state = folder_state(root)[0]
    except DatasetFolderError:
        return False
    return state == "complete" and (Path(root) / "truth.json").is_file()


def load_truth(root: str | os.PathLike) -> dict[str, pd.DataFrame]:
    """Read ``truth.json`` of a synthetic set.

    Returns
    -------
    dict
        ``sensors``: one row per sensor (``sensor_id``, split, location, every
        channel parameter and source prior as scalar columns); ``clips``: one row
        per clip (``clip_id``, ``audio_filename``, ``sensor_id``, split, the 8
        coarse label columns as 0/1, per class ``<col>_fine``, ``<col>_proximity``,
        ``<col>_snr_db`` (NaN when absent), and the ``drift_*`` values).
    """
    path = Path(root) / "truth.json"
    if not path.exists():
        raise FileNotFoundError(
            f"{path}: no truth.json; is {root} a synthetic set written by mvlib.data.synth?"
        )
    data = json.loads(path.read_text())
    for key in ("sensors", "clips"):
        if key not in data:
            raise ValueError(f"{path}: missing key {key!r}")
    sensors = pd.DataFrame(data["sensors"])
    clips = pd.DataFrame([{k: v for k, v in d.items() if k != "sources"} for d in data["clips"]])
    for col in taxonomy.coarse_label_columns():
        clips[f"{col}_snr_db"] = clips[f"{col}_snr_db"].astype(float)
    return {"sensors": sensors, "clips": clips}


def label_agreement(clips: pd.DataFrame, truth: dict) -> pd.DataFrame:
    """How the aggregated labels of ``clips`` compare with the true sources, per class.

    Returns one row per label source ("volunteers": train clips, union of volunteers;
    "verified": validate/test clips) with per-class agreement, miss and false-alarm rates.
    """
    # the loader's clip_id is the audio file name
    t = label_matrix(truth["clips"].set_index("audio_filename").loc[clips["clip_id"]])
    y = label_matrix(clips)
    rows = []
    for source in sorted(clips["label_source"].unique()):
        m = (clips["label_source"] == source).to_numpy()
        pos, neg = t[m] == 1, t[m] == 0
        rows.append(
            {
                "labels from": source,
                "clips": int(m.sum()),
                "agreement": float((y[m] == t[m]).mean()),
                "missed (of true sources)": float((y[m][pos] == 0).mean()) if pos.any() else 0.0,
                "false alarms (of absent)": float((y[m][neg] == 1).mean()) if neg.any() else 0.0,
            }
        )
    return pd.DataFrame(rows).set_index("labels from").round(3)
