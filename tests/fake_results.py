"""Probed runs as mvlib.evaluate.probe writes them, with planted effects (report tests).

:func:`make_results` writes ``results.json`` + ``predictions.npz`` for every configuration
of Tables 1 and 2 over three seeds, 240 test clips from 12 test sensors, and returns the
results frame the report layer reads.
"""

import hashlib
import io
import json

import numpy as np

from mvlib.report.results import load_results

N_CLIPS = 240
SEEDS = (0, 1, 2)
METHOD = {
    "singleview AE": "singleview",
    "contrastive (InfoNCE)": "contrastive",
    "supervised source": "supervised",
    "supervised sensor": "supervised",
    "frontend only": "frontend",
}
FEATURE = {"multiview": "joint", "singleview": "joint", "frontend": "x"}


def _write_run(run_dir, config, seed, source, sensor, val=(0.5, 0.5), frontend="logmel"):
    """A probed run as probe.py writes it: results.json + predictions.npz (hash checked)."""
    method = METHOD.get(config, "multiview")
    feat = FEATURE.get(method, "z")
    run_dir.mkdir(parents=True)
    ids = np.array([f"clip{i:04d}" for i in range(N_CLIPS)])
    arrays = {
        "clip_id.test": ids,
        "clip_id.val": ids[:20],
        # 12 test sensors of 20 clips each: the clusters of the paired statistics
        "sensor_classes": np.array([f"s{k:02d}" for k in range(12)]),
        "y_sensor.test": np.arange(N_CLIPS) // (N_CLIPS // 12),
        "y_sensor.val": np.arange(20) // 5,
        # every 4th test clip has no source at all: 25% empty clips
        "y_source.test": (
            (np.arange(N_CLIPS)[:, None] % 8 == np.arange(8))
            & (np.arange(N_CLIPS)[:, None] % 4 != 0)
        ).astype(np.int8),
        f"{feat}.source.test.score": source,
        f"{feat}.source.test.jaccard_empty0": source * 0.8,
        f"{feat}.sensor.test.score": sensor,
        f"{feat}.source.val.score": np.full(20, val[0]),
        f"{feat}.sensor.val.score": np.full(20, val[1]),
    }
    if method == "multiview":  # subspace probes: z_p holds the source, z_s the sensor
        arrays.update(
            {
                "z_p.source.test.score": source,
                "z_s.source.test.score": source - 0.1,
                "z_s.sensor.test.score": sensor,
                "z_p.sensor.test.score": np.zeros_like(sensor),
            }
        )
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    (run_dir / "predictions.npz").write_bytes(buf.getvalue())
    summary = {
        "profile": "ci",
        "method": method,
        "seed": seed,
        "data": "synth:test",
        "frontend": frontend,
        "weights": "n/a (no weights)",
        "source_jaccard": float(source.mean()),
        "sensor_accuracy": float(sensor.mean()),
        "source_jaccard_empty0": float(source.mean() * 0.8),
        "source_micro_auprc": 0.5,
        "source_macro_auprc": None,  # undefined: written as null, shown as —
        "source_val_jaccard": val[0],
        "sensor_val_accuracy": val[1],
        "main_feature": feat,
    }
    res = {
        "summary": summary,
        "git_commit": "abc123",
        "provenance": {"feature_identity": {"frontend": frontend}},
        "predictions": {
            "file": "predictions.npz",
            "sha256": hashlib.sha256(buf.getvalue()).hexdigest(),
        },
    }
    (run_dir / "results.json").write_text(json.dumps(res, allow_nan=False))


#: configuration -> (source effect, sensor effect, validation score)
EFFECTS = {
    "rec": (0.0, 0.0, 0.50),
    "rec + cos- sample": (0.10, 0.10, 0.60),  # the best on validation
    "rec + cos- batch": (0.0, 0.0, 0.40),
    "rec + cos+ sample": (-0.05, -0.05, 0.45),
    "rec + cos+ batch": (0.0, 0.0, 0.40),
    "rec + mask z_p r=0.4": (0.15, 0.15, 0.55),  # best on TEST, not on validation
    "singleview AE": (0.10, 0.10, 0.5),  # same as the best: no difference
    "contrastive (InfoNCE)": (-0.30, -0.30, 0.3),
    "frontend only": (0.08, 0.08, 0.5),
    "supervised source": (0.2, 0.0, 0.6),
    "supervised sensor": (0.0, 0.3, 0.6),
}


def make_results(root):
    """The results frame of every configuration of :data:`EFFECTS` written under ``root``."""
    rng = np.random.default_rng(0)
    clip_src = rng.uniform(0.2, 0.7, N_CLIPS)  # clip difficulty shared by every run
    clip_sen = rng.uniform(0.2, 0.7, N_CLIPS)
    paths, names, groups = [], [], []
    for config, (e_src, e_sen, val) in EFFECTS.items():
        for s in SEEDS:
            src = np.clip(clip_src + e_src + rng.normal(0, 0.05, N_CLIPS), 0, 1)
            sen = (rng.random(N_CLIPS) < np.clip(clip_sen + e_sen, 0, 1)).astype(float)
            d = root / f"{config.replace(' ', '_')}-seed{s}"
            _write_run(d, config, s, src, sen, val=(val, val))
            paths.append(d)
            names.append(config)
            groups.append(
                config.split(" ")[2].rstrip("-+") if config.startswith("rec +") else "rec"
            )
    df = load_results(paths)
    df["config"] = names
    df["group"] = groups
    return df
