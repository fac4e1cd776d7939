"""A probed run's result files: ``results.json`` and its per-clip ``predictions.npz``.

``results.json`` holds a flat summary (the main feature set's scores, per-subspace scores,
DSCΔ), every metric, the config, the provenance and the git commit, in strict JSON (a
metric undefined on the test partition is null and listed). ``predictions.npz`` holds each
selected head's per-clip outputs on validation and test, for the paired statistics; its
hash is recorded in ``results.json`` and checked on reading. :func:`provenance_cells` condenses the summaries
of several probed runs into the provenance a table row cites.
"""

from __future__ import annotations

import hashlib
import io
import json
from pathlib import Path

import numpy as np
import pandas as pd

from mvlib.core import config as cfgmod
from mvlib.core.cache import atomic_write_bytes, atomic_write_json, strict_json
from mvlib.core.errors import MvlibError
from mvlib.data.labels import label_matrix
from mvlib.ml.runs import git_commit

__all__ = [
    "MAIN_FEATURE",
    "PREDICTIONS_FILE",
    "UNDEFINED_NOTE",
    "downstream_labels",
    "summarise_results",
    "write_predictions",
    "load_predictions",
    "write_results",
    "provenance_cells",
]

#: the feature set scored as "overall" per method: z_p ⊕ z_s, the single latent, or raw features
MAIN_FEATURE = {
    "multiview": "joint",
    "singleview": "joint",
    "contrastive": "z",
    "supervised": "z",
    "frontend": "x",
}


def downstream_labels(clips) -> tuple[np.ndarray, np.ndarray]:
    """Probe targets of clip-table rows: source multi-hot ``[N x 8]``, sensor ids ``[N]``."""
    return label_matrix(clips, "source"), label_matrix(clips, "sensor")


def summarise_results(results: dict, method: str) -> dict:
    """Flat metrics of a probe result: overall (main feature), per subspace, DSCΔ.

    ``source_val_jaccard`` / ``sensor_val_accuracy`` are the selected heads' validation
    scores: what choices among configurations are made on (never test).
    """
    main = MAIN_FEATURE[method]
    src = results[main]["source"]
    out = {
        "source_jaccard": src["jaccard"],
        "sensor_accuracy": results[main]["sensor"]["accuracy"],
        "source_jaccard_empty0": src.get("jaccard_empty0"),
        "source_micro_auprc": src["micro_auprc"],
        "source_macro_auprc": src["macro_auprc"],
        "source_micro_f1": src["micro_f1"],
        "source_val_jaccard": src["val_score"],
        "sensor_val_accuracy": results[main]["sensor"]["val_score"],
        "n_test": src["n_test"],
        "main_feature": main,
    }
    for sub in ("z_p", "z_s"):
        if sub in results:
            out[f"source_jaccard_{sub}"] = results[sub]["source"]["jaccard"]
            out[f"sensor_accuracy_{sub}"] = results[sub]["sensor"]["accuracy"]
    if "dsc" in results:
        out.update(results["dsc"])
    return out


#: per-clip val/test outputs of every probe, beside results.json (see :func:`load_predictions`)
PREDICTIONS_FILE = "predictions.npz"


def write_predictions(out_dir, per_clip: dict, clips, partition, y_source, y_sensor) -> dict:
    """Write the per-clip sidecar atomically; return its name and hash for results.json."""
    arrays = dict(per_clip)
    part = np.asarray(partition).astype(str)
    codes = np.searchsorted(arrays["sensor_classes"], np.asarray(y_sensor).astype(str))
    for name in ("val", "test"):
        rows = part == name
        arrays[f"clip_id.{name}"] = np.asarray(clips["clip_id"])[rows].astype(str)
        arrays[f"y_source.{name}"] = np.asarray(y_source)[rows].astype(np.int8)
        arrays[f"y_sensor.{name}"] = codes[rows].astype(np.int64)
    buf = io.BytesIO()
    np.savez_compressed(buf, **arrays)
    data = buf.getvalue()
    atomic_write_bytes(Path(out_dir) / PREDICTIONS_FILE, data)
    return {"file": PREDICTIONS_FILE, "sha256": hashlib.sha256(data).hexdigest()}


def load_predictions(run_dir) -> dict:
    """The per-clip outputs of a probed run, checked against the hash in its results.json.

    Returns
    -------
    dict of ndarray
        Keys as written by :func:`probe_features` (``"{feature}.{task}.{val|test}.{kind}"``)
        plus ``clip_id.{val|test}``, ``y_source.{val|test}``, ``y_sensor.{val|test}`` and
        ``sensor_classes``.
    """
    run_dir = Path(run_dir)
    res = json.loads((run_dir / "results.json").read_text())
    meta = res.get("predictions")
    if not meta:
        raise MvlibError(
            run_dir / "results.json",
            "has no per-clip predictions (no 'predictions' entry)",
            "delete the run's results.json and rerun the sweep to probe it again",
        )
    f = run_dir / meta["file"]
    if not f.exists():
        raise MvlibError(f, "is missing", "delete results.json beside it and probe the run again")
    data = f.read_bytes()
    if hashlib.sha256(data).hexdigest() != meta["sha256"]:
        raise MvlibError(
            f,
            "does not match the hash recorded in results.json (changed or truncated)",
            "delete results.json beside it and probe the run again",
        )
    with np.load(io.BytesIO(data), allow_pickle=False) as z:
        return {k: z[k] for k in z.files}


def write_results(out_dir, results, cfg, prov, method, extra, predictions=None) -> dict:
    ident = prov.get("feature_identity", {})
    summary = {
        "profile": cfg.profile,
        "method": method,
        "objective": cfg.objective.objective if method == "multiview" else None,
        "level": cfg.objective.level if method == "multiview" else None,
        "mask_ratio": cfg.objective.mask_ratio if cfg.objective.objective == "mask" else None,
        "supervised_task": cfg.model.supervised_task if method == "supervised" else None,
        "seed": cfg.train.seed,
        # the dataset folder decides what the data is (data.source only says what to do
        # when none exists): name it by the folder, or by the cache's synthetic set
        "data": f"{'folder' if cfg.data.root else cfg.data.source}:{prov.get('dataset')}",
        "data_root": cfg.data.root,
        "frontend": ident.get("frontend"),
        "weights": ident.get("weights", "n/a (no weights)"),
        **summarise_results(results, method),
        **extra,
    }
    payload = {
        "summary": summary,
        "metrics": results,
        "config": cfgmod.to_dict(cfg),
        "provenance": prov,
        "git_commit": git_commit(),
        "predictions": predictions,
    }
    # strict JSON: a metric that is not defined here (AUPRC of a class without a test
    # positive, say) is null, and listed under "undefined"
    undefined: list = []
    payload = strict_json(payload, undefined=undefined)
    payload["undefined"] = undefined
    if undefined:
        payload["undefined_note"] = UNDEFINED_NOTE
    atomic_write_json(Path(out_dir) / "results.json", payload)
    return payload


UNDEFINED_NOTE = (
    "null values are undefined on this test partition, e.g. the AUPRC of a class "
    "without a test positive; they are left out of the macro average"
)


def provenance_cells(df: pd.DataFrame, configs: list[str]) -> dict:
    """Provenance of the runs of some configurations: seeds, profile, data, frontend,
    weights (and hash), git commit(s), number of runs (distinct values space-separated).

    ``df``: one row per probed run (its ``results.json`` summary) with a ``config`` column.
    """
    sub = df[df["config"].isin(configs)]

    def join(col):
        if col not in sub:
            return ""
        vals = sorted({str(v) for v in sub[col].dropna()})
        return " ".join(vals)

    return {
        "seeds": " ".join(str(int(s)) for s in sorted(sub["seed"].unique())),
        "profile": join("profile"),
        "data": join("data"),
        "frontend": join("frontend"),
        "weights": join("weights"),
        "weights_sha256": join("weights_sha256"),
        "git_commit": join("git_commit"),
        "runs": len(sub),
    }
