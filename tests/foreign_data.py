"""A SONYC-UST-V2-format folder written WITHOUT mvlib's generator, for tests off the happy path.

:func:`write_foreign_sonyc` stands in for a researcher's own copy of SONYC-UST-V2: it writes
``annotations.csv`` with the real column set (built here from the taxonomy file's text, not
from mvlib's writer) and ``audio/*.wav`` through soundfile, at several sample rates, mono and
stereo, with clips of 1-2 s of noise and tones. Train clips carry volunteer rows only;
validate/test clips carry a verified row (``annotator_id == 0``) plus volunteer rows and,
optionally, a SONYC team row. :func:`tree_digest` hashes every file of a folder so that a test
can prove mvlib left the folder byte-identical.

The API is stable (other tests copy this file): ``write_foreign_sonyc(root, n_sensors=...,
clips_per_sensor=..., seed=0, **options) -> Path`` and ``tree_digest(root) -> dict[str, str]``.
"""

from __future__ import annotations

import csv
import hashlib
import os
from pathlib import Path

import numpy as np
import soundfile as sf
import yaml

_TAXONOMY = Path(__file__).resolve().parents[1] / "mvlib" / "data" / "dcase-ust-taxonomy.yaml"
_META = (
    "split",
    "sensor_id",
    "audio_filename",
    "annotator_id",
    "borough",
    "block",
    "latitude",
    "longitude",
    "year",
    "week",
    "day",
    "hour",
)


def _taxonomy_columns() -> tuple[list[str], list[tuple[str, str]], list[str]]:
    """(coarse presence, fine (presence, proximity), coarse keys) from the taxonomy YAML."""
    with open(_TAXONOMY) as f:
        raw = yaml.safe_load(f)
    coarse = {int(k): str(v) for k, v in raw["coarse"].items()}
    coarse_cols = [f"{c}_{coarse[c]}_presence" for c in sorted(coarse)]
    fine = []
    for c in sorted(raw["fine"], key=int):
        for f_id, name in raw["fine"][c].items():
            stem = f"{int(c)}-{f_id}_{name}"
            fine.append((f"{stem}_presence", f"{stem}_proximity"))
    return coarse_cols, fine, [str(c) for c in sorted(coarse)]


def write_foreign_sonyc(
    root: str | os.PathLike,
    n_sensors: int = 6,
    clips_per_sensor: int | list[int] = 4,
    seed: int = 0,
    *,
    sample_rates: tuple[int, ...] = (16000, 48000, 22050),
    durations_s: tuple[float, float] = (1.0, 2.0),
    splits: tuple[str, ...] | None = None,
    n_volunteers: int = 3,
    team_rows: bool = True,
    columns: str = "full",
    extra_columns: bool = False,
) -> Path:
    """Write a SONYC-UST-V2-format dataset folder and return its path.

    Parameters
    ----------
    root : folder to create (must not exist, or be empty)
    n_sensors, clips_per_sensor : sensors (``sensor_id`` = 100 + s) and clips per sensor
        (an int, or one count per sensor)
    seed : random seed of labels and audio
    sample_rates : cycled over sensors; odd sensors write stereo, even ones mono
    durations_s : (min, max) clip length in seconds
    splits : split of each sensor (default: first half train, then validate, then test,
        at least one sensor each when ``n_sensors >= 3``)
    n_volunteers : volunteer rows per clip (``annotator_id`` 1..n)
    team_rows : add one SONYC team row (``annotator_id`` -1) to validate/test clips
    columns : "full" (every SONYC column) or "minimal" (``audio_filename, sensor_id, split``
        only: unlabelled sensor audio)
    extra_columns : add an unknown column (``note``) as a user's own copy might hold

    Returns
    -------
    Path
        ``root``, holding ``annotations.csv`` and ``audio/<audio_filename>``.
    """
    root = Path(root)
    if root.exists() and any(root.iterdir()):
        raise FileExistsError(f"{root} is not empty")
    (root / "audio").mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    coarse_cols, fine, coarse_keys = _taxonomy_columns()
    if splits is None:
        n_train = max(1, n_sensors // 2)
        n_val = max(1, (n_sensors - n_train) // 2) if n_sensors >= 3 else 0
        splits = tuple(
            "train" if s < n_train else "validate" if s < n_train + n_val else "test"
            for s in range(n_sensors)
        )
    assert len(splits) == n_sensors, "one split per sensor"
    if isinstance(clips_per_sensor, int):
        clips_per_sensor = [clips_per_sensor] * n_sensors
    assert len(clips_per_sensor) == n_sensors, "one clip count per sensor"

    rows = []
    for s in range(n_sensors):
        sensor_id = str(100 + s)
        sr = sample_rates[s % len(sample_rates)]
        channels = 2 if s % 2 else 1
        split = splits[s]
        for k in range(clips_per_sensor[s]):
            name = f"{s:02d}_{k:06d}.wav"
            dur = rng.uniform(*durations_s)
            n = int(round(dur * sr))
            t = np.arange(n) / sr
            tone = 0.2 * np.sin(2 * np.pi * rng.uniform(200, 3000) * t)  # (n,)
            noise = 0.05 * rng.standard_normal((n, channels))  # (n, C)
            y = (noise + tone[:, None]).astype(np.float32)
            sf.write(root / "audio" / name, y if channels > 1 else y[:, 0], sr, subtype="PCM_16")
            truth = rng.random(len(coarse_cols)) < 0.3
            meta = {
                "split": split,
                "sensor_id": sensor_id,
                "audio_filename": name,
                "borough": str(1 + s % 3),
                "block": str(1000 + s),
                "latitude": f"{40.7 + 0.01 * s:.5f}",
                "longitude": f"{-74.0 + 0.01 * s:.5f}",
                "year": "2019",
                "week": str(1 + k % 52),
                "day": str(k % 7),
                "hour": str((3 * k) % 24),
            }
            annotators = list(range(1, n_volunteers + 1))
            if split != "train":
                annotators = [0] + annotators + ([-1] if team_rows else [])
            for a in annotators:
                votes = truth if a <= 0 else truth ^ (rng.random(len(truth)) < 0.1)
                rows.append(_row(meta, a, votes, coarse_cols, fine, coarse_keys, rng))

    if columns == "minimal":
        header = ["audio_filename", "sensor_id", "split"]
        seen, out = set(), []
        for r in rows:
            if r["audio_filename"] not in seen:
                seen.add(r["audio_filename"])
                out.append({h: r[h] for h in header})
        rows = out
    else:
        assert columns == "full", f"columns: 'full' or 'minimal', not {columns!r}"
        header = [*_META, *(p for p, _ in fine), *coarse_cols, *(x for _, x in fine)]
        if extra_columns:
            header.append("note")
            for r in rows:
                r["note"] = "field recording"
    with open(root / "annotations.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=header)
        w.writeheader()
        w.writerows(rows)
    return root


def _row(meta, annotator, votes, coarse_cols, fine, coarse_keys, rng) -> dict:
    """One annotation row: coarse votes, fine presence consistent with them, proximities."""
    row = dict(meta, annotator_id=str(annotator))
    for col, v in zip(coarse_cols, votes):
        row[col] = "1" if v else "0"
    present = {k for k, v in zip(coarse_keys, votes) if v}
    for pres, prox in fine:
        c = pres.split("-", 1)[0]
        on = c in present and rng.random() < 0.6
        row[pres] = "1" if on else "0"
        row[prox] = str(rng.choice(["near", "far", "notsure"])) if on else "-1"
    return row


def tree_digest(root: str | os.PathLike) -> dict[str, str]:
    """``{relative posix path: sha256 hex}`` of every file under ``root`` (sorted)."""
    root = Path(root)
    out = {}
    for p in sorted(root.rglob("*")):
        if p.is_file() or p.is_symlink():
            h = hashlib.sha256()
            with open(p, "rb") as f:
                for chunk in iter(lambda: f.read(1 << 20), b""):
                    h.update(chunk)
            out[p.relative_to(root).as_posix()] = h.hexdigest()
    return out
