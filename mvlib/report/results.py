"""The results frame: one row per probed run, and the per-clip scores behind it.

Every table and figure of the book starts from this frame: a run's ``results.json``
summary (its metrics, seed, data, frontend, weights, git commit), labelled with the
configuration it belongs to, and, for paired statistics, the per-clip scores of its
probes (``predictions.npz``, a seeds × clips matrix per configuration). Choices among
configurations (the best multi-view one) are made here on VALIDATION scores.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd

from mvlib.core.errors import MvlibError
from mvlib.evaluate.metrics import mean_ci
from mvlib.evaluate.probe.results import MAIN_FEATURE, load_predictions
from mvlib.evaluate.significance import prob_best

__all__ = [
    "RESULTS_FILE",
    "TASKS",
    "METRIC",
    "VAL_METRIC",
    "load_results",
    "collect_runs",
    "provenance_of",
    "training_summary",
    "per_clip_matrix",
    "aligned",
    "common",
    "clip_sensors",
    "empty_source_share",
    "best_multiview",
    "best_probabilities",
    "seed_mean",
]

RESULTS_FILE = "results.json"  #: a probed run's results (written by mvlib.evaluate.probe)
TASKS = {"source": "source Jaccard", "sensor": "sensor accuracy"}  #: task -> its score
METRIC = {"source": "source_jaccard", "sensor": "sensor_accuracy"}  #: test score column
VAL_METRIC = {"source": "source_val_jaccard", "sensor": "sensor_val_accuracy"}


def load_results(paths) -> pd.DataFrame:
    """One row per run: name, group, seed, frontend, data, weights, and every metric.

    Adds ``git_commit`` and ``weights_sha256`` (from the run's provenance) to the summary.
    Folders without ``results.json`` (runs not finished) are left out.
    """
    rows = []
    for p in paths:
        f = Path(p) / RESULTS_FILE
        if not f.exists():
            continue
        res = json.loads(f.read_text())
        row = {**res["summary"], "run_dir": str(p)}
        if "git_commit" in res:
            row["git_commit"] = res["git_commit"]
        ident = (res.get("provenance") or {}).get("feature_identity") or {}
        if "weights_sha256" in ident:
            row["weights_sha256"] = ident["weights_sha256"]
        rows.append(row)
    return pd.DataFrame(rows)


def collect_runs(runs) -> pd.DataFrame:
    """The results frame of some runs, each labelled with its configuration.

    Parameters
    ----------
    runs : iterable of (config, group, seed, split seed or None, run dir)
        What each run is (``mvlib.sweep.collect`` lists the sweep's grid this way).

    With more than one split seed a run's unit of replication is the pair (split seed,
    seed): column ``seed`` then numbers those pairs (``split_seed`` and ``train_seed``
    keep the two), so that paired statistics match runs on the same split.
    """
    runs = list(runs)
    split_seeds = sorted({sp if sp is not None else -1 for _, _, _, sp, _ in runs})
    units = sorted({(sp if sp is not None else -1, s) for _, _, s, sp, _ in runs})
    unit = {u: i for i, u in enumerate(units)}
    meta = {str(rd): (c, g, s, sp) for c, g, s, sp, rd in runs}
    df = load_results(list(meta))
    if len(df):
        m = [meta[r] for r in df["run_dir"]]
        df["config"] = [x[0] for x in m]
        df["group"] = [x[1] for x in m]
        if len(split_seeds) > 1:
            df["train_seed"] = [x[2] for x in m]
            df["split_seed"] = [x[3] for x in m]
            df["seed"] = [unit[(x[3] if x[3] is not None else -1, x[2])] for x in m]
    return df


def provenance_of(df: pd.DataFrame) -> pd.DataFrame:
    """Which data, frontend and weights made the results (one row per distinct combination)."""
    cols = [c for c in ("data", "frontend", "weights", "profile", "git_commit") if c in df]
    return df[cols].drop_duplicates().reset_index(drop=True)


def training_summary(df: pd.DataFrame) -> pd.DataFrame:
    """How each trained configuration's runs ended, from their ``done.json``.

    One row per configuration (runs without training, the frontend-only baseline, are
    left out): the number of runs, the best validation epoch (median and range, 1-based),
    epochs run (median) of the budget, how many stopped early, and how many kept a best
    epoch before their last one, i.e. reached a validation plateau within the budget.
    Counts are integers; the medians keep one decimal only where they have one.
    """
    rows = []
    for r in df.itertuples():
        f = Path(r.run_dir) / "done.json"
        if not f.exists():
            continue
        d = json.loads(f.read_text())
        best, run = int(d["best_epoch"]) + 1, int(d.get("epochs_run", d["epochs"]))
        rows.append(
            {
                "config": r.config,
                "best": best,
                "run": run,
                "budget": int(d["epochs"]),
                "early": bool(d.get("stopped_early", False)),
            }
        )
    cols = ["runs", "best epoch (median)", "best epoch (range)", "epochs run (median)"]
    cols += ["epoch budget", "stopped early", "best before last"]
    if not rows:
        return pd.DataFrame(columns=cols)
    t = pd.DataFrame(rows)
    g = t.groupby("config", sort=False)
    out = pd.DataFrame(
        {
            "runs": g.size(),
            "best epoch (median)": g["best"].median(),
            "best epoch (range)": g["best"].agg(lambda s: f"{s.min()}–{s.max()}"),
            "epochs run (median)": g["run"].median(),
            "epoch budget": g["budget"].max(),
            "stopped early": g["early"].sum().astype(int),
            "best before last": (t["best"] < t["run"]).groupby(t["config"], sort=False).sum(),
        }
    )[cols]
    out.index.name = "configuration"
    return out


def _feature(row) -> str:
    feat = row.get("main_feature") if hasattr(row, "get") else None
    if isinstance(feat, str):
        return feat
    return MAIN_FEATURE[row["method"]]


def per_clip_matrix(
    df: pd.DataFrame,
    config: str,
    task: str,
    part: str = "test",
    kind: str = "score",
    feature: str | None = None,
    cache: dict | None = None,
) -> pd.DataFrame:
    """Per-clip scores of one configuration: a DataFrame seeds × clip ids (NaN: not scored).

    Parameters
    ----------
    df : results from :func:`collect_runs` (with ``run_dir``)
    config : configuration name
    task : "source" | "sensor"
    part : "test" | "val"
    kind : "score" (the task metric per clip) or "jaccard_empty0" (source)
    feature : feature set (default: the method's main feature, e.g. z_p ⊕ z_s)
    cache : run dir -> loaded predictions, shared between calls to read each file once
    """
    cache = {} if cache is None else cache
    rows = df[df["config"] == config].sort_values("seed")
    series = {}
    for _, r in rows.iterrows():
        if r["run_dir"] not in cache:
            cache[r["run_dir"]] = load_predictions(r["run_dir"])
        pred = cache[r["run_dir"]]
        feat = feature or _feature(r)
        key = f"{feat}.{task}.{part}.{kind}"
        if key not in pred:
            raise MvlibError(r["run_dir"], f"has no per-clip {key!r}", "probe the run again")
        series[int(r["seed"])] = pd.Series(pred[key], index=pred[f"clip_id.{part}"])
    return pd.DataFrame(series).T.sort_index()


def common(a: pd.DataFrame, b: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, list, list]:
    """Two configurations' per-clip matrices on common seeds and the union of clips.

    A cell is kept only where both scored it (NaN in both otherwise); clips neither
    scored are dropped. Returns ``(a, b, seeds, clip ids)`` with ``a, b`` ndarray[S x N].
    """
    seeds = sorted(set(a.index) & set(b.index))
    clips = sorted(set(a.columns) | set(b.columns))
    x = a.reindex(index=seeds, columns=clips).to_numpy(np.float64, copy=True)
    y = b.reindex(index=seeds, columns=clips).to_numpy(np.float64, copy=True)
    both = ~np.isnan(x) & ~np.isnan(y)
    x[~both], y[~both] = np.nan, np.nan
    keep = both.any(axis=0)
    return x[:, keep], y[:, keep], seeds, [c for c, k in zip(clips, keep, strict=True) if k]


def aligned(a: pd.DataFrame, b: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, list]:
    """:func:`common` without the clip ids: ``(a, b, seeds)``."""
    return common(a, b)[:3]


def clip_sensors(df: pd.DataFrame, part: str = "test", cache: dict | None = None) -> dict:
    """clip id -> sensor id of every clip the runs of ``df`` scored in a partition.

    The sensors are the clusters of the paired statistics (clips of one sensor are
    correlated); they come from each run's ``predictions.npz`` (``y_sensor.<part>``
    indexes ``sensor_classes``). Runs whose file has no sensor labels add nothing.
    """
    cache = {} if cache is None else cache
    out: dict = {}
    for run_dir in df["run_dir"]:
        if run_dir not in cache:
            cache[run_dir] = load_predictions(run_dir)
        pred = cache[run_dir]
        if f"y_sensor.{part}" not in pred or "sensor_classes" not in pred:
            continue
        names = np.asarray(pred["sensor_classes"]).astype(str)[pred[f"y_sensor.{part}"]]
        out.update(zip(np.asarray(pred[f"clip_id.{part}"]).astype(str), names, strict=True))
    return out


def empty_source_share(df: pd.DataFrame, part: str = "test") -> tuple[float, int]:
    """Share of the distinct clips the runs of ``df`` scored that have no source at all.

    Returns ``(share, number of distinct clips)``; ``(nan, 0)`` when no run's
    ``predictions.npz`` holds the source labels (``y_source.<part>``).
    """
    empty: dict = {}
    for run_dir in df["run_dir"]:
        pred = load_predictions(run_dir)
        if f"y_source.{part}" not in pred:
            continue
        none = ~np.asarray(pred[f"y_source.{part}"]).astype(bool).any(axis=1)
        empty.update(zip(np.asarray(pred[f"clip_id.{part}"]).astype(str), none, strict=True))
    if not empty:
        return math.nan, 0
    return float(np.mean(list(empty.values()))), len(empty)


def best_multiview(df: pd.DataFrame) -> tuple[str | None, pd.DataFrame]:
    """The multi-view configuration with the best VALIDATION score (mean of both tasks).

    Returns
    -------
    (name or None, DataFrame of every multi-view configuration's mean validation scores,
    best first, indexed by configuration)
    """
    mv = df[df["method"] == "multiview"] if "method" in df else df.iloc[0:0]
    if mv.empty:
        return None, pd.DataFrame()
    val = mv.groupby("config")[[VAL_METRIC["source"], VAL_METRIC["sensor"]]].mean()
    val["val average"] = val.mean(axis=1)
    val["seeds"] = mv.groupby("config").size()
    val = val.sort_values(["val average"], ascending=False, kind="mergesort")
    val.index.name = "configuration"
    return str(val.index[0]), val


def best_probabilities(
    df: pd.DataFrame, configs: list[str], n_boot: int = 2000, seed: int = 0
) -> pd.Series:
    """How firm the choice on validation is: P(each configuration is the best).

    The bootstrap probability (:func:`mvlib.evaluate.significance.prob_best`, resampling
    seeds and validation sensors with their clips) that each configuration has the best
    mean validation score over both tasks, the criterion of :func:`best_multiview`.
    """
    cache: dict = {}
    sensors = clip_sensors(df[df["config"].isin(configs)], "val", cache)
    mats = {c: {t: per_clip_matrix(df, c, t, "val", cache=cache) for t in TASKS} for c in configs}
    scores, clusters = {}, {}
    for t in TASKS:
        seeds = sorted(set.intersection(*(set(mats[c][t].index) for c in configs)))
        clips = sorted(set().union(*(set(mats[c][t].columns) for c in configs)))
        for c in configs:
            m = mats[c][t].reindex(index=seeds, columns=clips)
            scores.setdefault(c, {})[t] = m.to_numpy(np.float64)
        clusters[t] = np.array([sensors[k] for k in clips]) if sensors else None
    if not any(v is not None for v in clusters.values()):
        clusters = None
    elif any(v is None for v in clusters.values()):
        clusters = {t: v for t, v in clusters.items() if v is not None}
    p = prob_best(scores, clusters, n_boot, seed)
    return pd.Series(p, name="P(best)")


def seed_mean(df: pd.DataFrame, config: str, col: str) -> tuple[float, float]:
    """Mean over a configuration's runs of a summary column, with its CI half-width."""
    v = df.loc[df["config"] == config, col] if col in df else pd.Series(dtype=float)
    v = pd.to_numeric(v, errors="coerce").dropna()
    return mean_ci(v) if len(v) else (math.nan, math.nan)
