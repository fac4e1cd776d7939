"""Label efficiency (beyond the paper): probes trained on a fraction of the labelled clips.

How many downstream labels does self-supervision save? For a frozen encoder, the probes
of paper 3.4 are refitted on 5%, 20% (and 100%) of the labelled TRAINING clips of the
held-out sensors; validation and test partitions stay exactly those of Tables 1 and 2.
Each fraction below 1 is drawn several times (``n_subsamples``), stratified by sensor:
every sensor keeps ``max(1, round(fraction × its training clips))`` clips, so that the
sensor task never loses a class entirely. A subsample depends only on the clip ids, the
fraction, its index and ``seed``, so every encoder is probed on the SAME labelled clips
(the comparison between encoders is paired). The 100% point is the run's own probe (its
``predictions.npz``), the one Table 1 reports.

Per-clip test scores are kept, with each test clip's sensor, so that :func:`summarise`
gives each (encoder, fraction) a 95% CI from the procedure of
:mod:`mvlib.evaluate.significance` that Tables 1 and 2 use: the runs (seeds) are its units
and the test clips are clustered in their sensors (the sensor of a clip is read from the
run's ``predictions.npz``, as :func:`mvlib.report.results.clip_sensors` reads it for the
tables). The subsamples of a run are nested in it (they share its encoder, and every
encoder of that seed gets the same ones), so a unit's per-clip score is the mean over its
subsamples: counting them as units of their own would take their spread for the seeds'
and give the t-interval degrees of freedom the design does not have. Paired differences
between encoders at each fraction are Holm-corrected, and a comparison the units cannot
resolve is never called significant. Results are cached in each run folder
(``label_efficiency-<key>.npz``), keyed by everything that made them.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm import tqdm

from mvlib.core import config as cfgmod
from mvlib.core.cache import atomic_write_bytes
from mvlib.embed.stored import result_frontend_embeddings, run_embeddings
from mvlib.evaluate.probe.fit import (
    PROBE_TASKS,
    check_labels,
    fit_tasks,
    per_clip_outputs,
    prepare_heads,
)
from mvlib.evaluate.probe.results import downstream_labels, load_predictions, provenance_cells
from mvlib.evaluate.significance import holm_verdicts, mean_interval, paired_difference

__all__ = [
    "FRACTIONS",
    "subsample_train",
    "efficiency_probes",
    "run_efficiency",
    "per_clip_scores",
    "per_run",
    "sensor_of_clips",
    "summarise",
    "encoder_runs",
    "run_all",
    "with_provenance",
]

FRACTIONS = (0.05, 0.2, 1.0)
_FORMAT = 1


def subsample_train(clip_ids, sensors, partition, fraction: float, index: int, seed: int = 0):
    """Training rows kept at ``fraction``: stratified by sensor, at least one per sensor.

    Parameters
    ----------
    clip_ids, sensors, partition : ndarray[N]
        Clip ids, sensor ids and downstream partition ("train", "val", "test", "").
    fraction : float in (0, 1]
    index : which of the subsamples of this fraction (0, 1, ...)
    seed : int or tuple of int
        Subsample seed (:func:`run_efficiency` passes ``(seed, run seed)``, so that each
        seed of an encoder gets its own subsamples, shared by every encoder of that seed).

    Returns
    -------
    ndarray[N] of bool, True for the kept training rows (never a val/test row)
    """
    if not 0.0 < fraction <= 1.0:
        raise ValueError(f"fraction must be in (0, 1], got {fraction!r}")
    ids = np.asarray(clip_ids).astype(str)
    sen = np.asarray(sensors).astype(str)
    part = np.asarray(partition).astype(str)
    if not (ids.shape == sen.shape == part.shape):
        raise ValueError(f"shapes differ: {ids.shape}, {sen.shape}, {part.shape}")
    keep = np.zeros(ids.shape, dtype=bool)
    seeds = [int(v) for v in np.atleast_1d(seed)]
    rng = np.random.default_rng([*seeds, int(round(fraction * 1e6)), int(index)])
    for s in sorted(set(sen[part == "train"])):
        rows = np.nonzero((part == "train") & (sen == s))[0]
        rows = rows[np.argsort(ids[rows], kind="mergesort")]  # depends on ids, not row order
        k = max(1, int(round(fraction * rows.size)))
        keep[rng.permutation(rows)[:k]] = True
    return keep


def efficiency_probes(
    X,
    y_source,
    y_sensor,
    partition,
    clip_ids,
    cfg,
    fractions=FRACTIONS,
    n_subsamples: int = 3,
    seed=0,
    progress: bool = False,
    tasks=PROBE_TASKS,
) -> dict:
    """Fit the probes of the tasks on subsamples of the training rows; score test per clip.

    Parameters
    ----------
    X : ndarray[N x d]
        One feature set (e.g. z_p ⊕ z_s) of the downstream clips.
    y_source : ndarray[N x 8]; y_sensor : ndarray[N] sensor ids
    partition : ndarray[N]; clip_ids : ndarray[N]
    cfg : ProbeConfig
    fractions : fractions of the training rows (1.0 is fitted once)
    n_subsamples : draws per fraction below 1
    seed : subsample seed (see :func:`subsample_train`)
    tasks : the tasks to probe ("source", "sensor")

    Returns
    -------
    dict of ndarray
        ``clip_id.test`` and ``sensor.test`` (each test clip's sensor, the clusters of
        :func:`summarise`); per (fraction f, subsample k): ``"{f}.{k}.{task}.score"`` per-clip
        test scores (see :func:`mvlib.evaluate.probe.fit.per_clip_outputs`),
        ``"{f}.{k}.{task}.val"`` (selected head's validation score) and ``"{f}.{k}.n_train"``.
    """
    X = np.asarray(X, dtype=np.float64)
    part = np.asarray(partition).astype(str)
    ids = np.asarray(clip_ids).astype(str)
    sen_ids = np.asarray(y_sensor).astype(str)
    n = X.shape[0]
    assert part.shape == ids.shape == sen_ids.shape == (n,), "rows of X, labels, ids differ"
    y_src = check_labels("y_source", y_source, "source", n).astype(np.int64)
    used = part != ""
    classes = np.unique(sen_ids[used])
    codes = np.searchsorted(classes, sen_ids)
    labels = {"source": y_src, "sensor": codes}
    va, te = part == "val", part == "test"
    out: dict = {"clip_id.test": ids[te], "sensor.test": sen_ids[te]}
    jobs = [(f, k) for f in fractions for k in range(n_subsamples if f < 1 else 1)]
    for f, k in tqdm(jobs, desc="label efficiency", disable=not progress):
        tr = subsample_train(ids, sen_ids, part, f, k, seed)
        out[f"{f:g}.{k}.n_train"] = np.array(int(tr.sum()))
        # both tasks' probes (every weight decay) train at once, in one batched loop
        prepared = {
            task: prepare_heads(
                {"x": (X[tr], X[va])},
                labels[task][tr],
                labels[task][va],
                task,
                len(classes) if task == "sensor" else None,
            )
            for task in tasks
        }
        fitted = fit_tasks(prepared, cfg, progress=False, threads=1)
        for task in tasks:
            y, probe = labels[task], fitted[task]["x"]
            out[f"{f:g}.{k}.{task}.score"] = per_clip_outputs(probe, X[te], y[te], task)["score"]
            out[f"{f:g}.{k}.{task}.val"] = np.array(probe.val_score)
    return out


def _key(res: dict, feature: str, fractions, n_subsamples: int, seed: int, tasks) -> str:
    ident = {
        "format": _FORMAT,
        "predictions": (res.get("predictions") or {}).get("sha256"),
        "probe": res["config"]["probe"],
        "feature": feature,
        "fractions": [float(f) for f in fractions],
        "n_subsamples": int(n_subsamples),
        "seed": int(seed),
        "tasks": list(tasks),
    }
    return hashlib.sha256(json.dumps(ident, sort_keys=True).encode()).hexdigest()[:12]


def run_efficiency(
    run_dir,
    fractions=FRACTIONS,
    n_subsamples: int = 3,
    seed: int = 0,
    progress: bool = False,
    tasks=PROBE_TASKS,
) -> dict:
    """Label-efficiency probes of one probed run (or frontend-only results folder), cached.

    The run's main feature set (e.g. z_p ⊕ z_s) is re-embedded, probes are refitted on
    each subsample with the run's own probe config, and the 100% point is taken from the
    run's ``predictions.npz``. The result is written to ``label_efficiency-<key>.npz`` in
    the run folder, the key hashing the run's predictions, probe config, feature set,
    fractions, number of subsamples and seed; a matching file is reused.

    Returns
    -------
    dict as :func:`efficiency_probes` (with the 1.0 entries from the run's own probe, and
    ``sensor.test`` from the run's ``predictions.npz`` where it holds the sensor labels)
    """
    run_dir = Path(run_dir)
    res = json.loads((run_dir / "results.json").read_text())
    feature = res["summary"].get("main_feature") or "x"
    method = res["summary"]["method"]
    key = _key(res, feature, fractions, n_subsamples, seed, tasks)
    out_file = run_dir / f"label_efficiency-{key}.npz"
    if out_file.exists():
        with np.load(out_file, allow_pickle=False) as z:
            return _with_sensors({k: z[k] for k in z.files}, run_dir)
    cfg = cfgmod.from_dict(res["config"])
    if method == "frontend":  # the frontend-only baseline: its store, read as it is
        feats, clips, part = result_frontend_embeddings(cfg, res["provenance"], run_dir)
    else:
        run = run_embeddings(run_dir)
        feats, clips, part = run.embeddings, run.clips, run.partition
    y_src, y_sen = downstream_labels(clips)
    below = [f for f in fractions if f < 1]
    out = efficiency_probes(
        feats[feature],
        y_src,
        y_sen,
        part,
        clips["clip_id"].to_numpy(),
        cfg.probe,
        below,
        n_subsamples,
        (seed, int(res["summary"]["seed"])),
        progress,
        tasks,
    )
    if any(f >= 1 for f in fractions):
        pred = load_predictions(run_dir)
        order = pd.Index(pred["clip_id.test"]).get_indexer(out["clip_id.test"])
        assert (order >= 0).all(), f"{run_dir}: test clips differ from its predictions"
        out["1.0.n_train"] = np.array(int((np.asarray(part).astype(str) == "train").sum()))
        for task in tasks:
            out[f"1.0.{task}.score"] = pred[f"{feature}.{task}.test.score"][order]
            out[f"1.0.{task}.val"] = np.array(pred[f"{feature}.{task}.val.score"].mean())
    out = _with_sensors(out, run_dir)
    buf = io.BytesIO()
    np.savez_compressed(buf, **out)
    atomic_write_bytes(out_file, buf.getvalue())
    return out


def _with_sensors(out: dict, run_dir: Path) -> dict:
    """``out`` with ``sensor.test`` read as the tables read it: from ``predictions.npz``.

    A file written before the sensors were kept gets them here, without refitting.
    """
    pred = load_predictions(run_dir)
    if "y_sensor.test" not in pred or "sensor_classes" not in pred:
        return out  # no sensor labels in the run's file: keep the probes' own, if any
    names = np.asarray(pred["sensor_classes"]).astype(str)[pred["y_sensor.test"]]
    sensor_of = dict(zip(np.asarray(pred["clip_id.test"]).astype(str), names, strict=True))
    ids = np.asarray(out["clip_id.test"]).astype(str)
    missing = [c for c in ids if c not in sensor_of]
    assert not missing, f"{run_dir}: test clips {missing[:3]} are not in its predictions"
    return {**out, "sensor.test": np.array([sensor_of[c] for c in ids])}


def sensor_of_clips(results: dict) -> dict:
    """clip id -> sensor of every test clip of ``results`` ({run label: dict from
    :func:`run_efficiency`}); the clusters of :func:`summarise`. Results without
    ``sensor.test`` add nothing."""
    out: dict = {}
    for res in results.values():
        if "sensor.test" in res:
            ids = np.asarray(res["clip_id.test"]).astype(str)
            out.update(zip(ids, np.asarray(res["sensor.test"]).astype(str), strict=True))
    return out


def per_clip_scores(results: dict, task: str, fraction: float) -> pd.DataFrame:
    """Per-clip test scores at one fraction: rows (run, subsample) units, columns clip ids.

    Parameters
    ----------
    results : {run label (e.g. seed): dict from :func:`run_efficiency`}
    """
    rows = {}
    for run, out in results.items():
        k = 0
        while f"{fraction:g}.{k}.{task}.score" in out:
            rows[(run, k)] = pd.Series(out[f"{fraction:g}.{k}.{task}.score"], out["clip_id.test"])
            k += 1
    return pd.DataFrame(rows).T


def per_run(scores: pd.DataFrame) -> pd.DataFrame:
    """One row per run of :func:`per_clip_scores`: the mean over its subsamples per clip.

    The run (seed) is the unit of the statistics; its subsamples are nested in it.
    """
    return scores.groupby(level=0, sort=False).mean()


def summarise(
    encoders: dict,
    fractions=FRACTIONS,
    reference: str | None = None,
    alpha: float = 0.05,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Scores per (encoder, task, fraction) with CIs, and paired differences to a reference.

    The procedure is that of Tables 1 and 2 (:func:`mvlib.report.comparison.compare`):
    :func:`mvlib.evaluate.significance.paired_difference` with the test clips clustered in
    their sensors (``sensor.test`` of the results, see :func:`sensor_of_clips`), Holm's
    correction over all comparisons, and no verdict where the units cannot carry one.

    Parameters
    ----------
    encoders : {encoder label: {task: {run label: dict from run_efficiency}}}
        Per task, since an encoder may be a different run per task (supervised baselines).
    reference : encoder every other one is compared with at each fraction (paired on
        the same runs' seeds, whose subsamples are shared, and test clips); None: no
        comparisons
    alpha : as :func:`mvlib.evaluate.significance.paired_difference`

    Returns
    -------
    (scores, comparisons)
        scores: encoder, task, fraction, n_train, estimate, ci_low, ci_high, units (runs,
        each the mean of its subsamples, :func:`per_run`), subsamples (all runs'), clips,
        clusters (test sensors; 0: none known, every clip its own cluster).
        comparisons: encoder, task, fraction, estimate (encoder − reference), ci_low,
        ci_high, se, df, p, mdd, n_clusters, resolvable, note, p_holm (over all rows),
        significant (Holm p < alpha and resolvable).
    """
    sensor_of = _sensors_of_encoders(encoders)
    rows, tests, diffs = [], [], []
    for enc, per_task in encoders.items():
        for task in PROBE_TASKS:
            res = per_task.get(task) or {}
            for f in fractions:
                subsamples = per_clip_scores(res, task, f)
                if subsamples.empty:
                    continue
                m = per_run(subsamples)
                rows.append(_score_row(enc, task, f, res, m, len(subsamples), alpha, sensor_of))
                if reference is None or enc == reference:
                    continue
                ref_res = encoders[reference].get(task) or {}
                done = _reference_comparison(enc, task, f, m, ref_res, alpha, sensor_of)
                if done is not None:
                    diffs.append(done[0])
                    tests.append(done[1])
    comp = pd.DataFrame(tests)
    if len(comp):
        comp["p_holm"], comp["significant"] = holm_verdicts(diffs, alpha)
    return pd.DataFrame(rows), comp


def _sensors_of_encoders(encoders: dict) -> dict:
    """clip id -> sensor of every test clip of every encoder's results (:func:`sensor_of_clips`)."""
    sensor_of = {}
    for per_task in encoders.values():
        for res in per_task.values():
            sensor_of.update(sensor_of_clips(res or {}))
    return sensor_of


def _clusters(sensor_of: dict, clips) -> np.ndarray | None:
    """The sensor of every clip: the clusters (None when no sensor is known)."""
    return np.array([sensor_of[c] for c in clips]) if sensor_of else None


def _score_row(
    enc, task: str, f: float, res: dict, m: pd.DataFrame, n_sub: int, alpha: float, sensor_of
) -> dict:
    """One row of :func:`summarise`'s scores: the runs' mean score at ``f`` with its CI."""
    est = mean_interval(m.to_numpy(np.float64), alpha, clusters=_clusters(sensor_of, m.columns))
    n_train = [float(o[f"{f:g}.0.n_train"]) for o in res.values()]
    return {
        "encoder": enc,
        "task": task,
        "fraction": f,
        "n_train": float(np.mean(n_train)),
        "estimate": est.estimate,
        "ci_low": max(0.0, est.ci_low),  # scores live in [0, 1]
        "ci_high": min(1.0, est.ci_high),
        "units": est.n_units,
        "subsamples": n_sub,
        "clips": est.n_clips,
        "clusters": est.n_clusters,
    }


def _reference_comparison(
    enc, task: str, f: float, m: pd.DataFrame, ref_res: dict, alpha: float, sensor_of
):
    """``(difference, row)`` of encoder − reference at ``f``, or None if nothing is shared."""
    ref = per_clip_scores(ref_res, task, f)
    a, b, clips = _paired(m, per_run(ref) if len(ref) else ref)
    if a is None:
        return None
    d = paired_difference(a, b, alpha, clusters=_clusters(sensor_of, clips))
    return d, {
        "encoder": enc,
        "task": task,
        "fraction": f,
        **{k: getattr(d, k) for k in ("estimate", "ci_low", "ci_high", "se")},
        **{k: getattr(d, k) for k in ("df", "p", "mdd", "n_clusters")},
        "resolvable": d.resolvable,
        "note": d.note,
    }


def _paired(a: pd.DataFrame, b: pd.DataFrame):
    """Align two per-clip frames by unit (run) and clip id: (a, b, clip ids);
    Nones if nothing is shared."""
    units = [u for u in a.index if u in b.index]
    clips = [c for c in a.columns if c in set(b.columns)]
    if not units or not clips:
        return None, None, None
    x = a.loc[units, clips].to_numpy(np.float64, copy=True)
    y = b.loc[units, clips].to_numpy(np.float64, copy=True)
    both = ~np.isnan(x) & ~np.isnan(y)
    x[~both] = y[~both] = math.nan
    return x, y, clips


def encoder_runs(results: pd.DataFrame, best: str) -> dict:
    """The runs of the three encoders compared: {label: {task: {seed: run_dir}}}.

    "frontend only" (no training), "multiview (<best>)" (``best`` chosen on validation by
    :func:`mvlib.report.results.best_multiview`) and "supervised" (the source-trained run for the
    source task, the sensor-trained one for the sensor task, as in Table 1).
    """

    def runs(config):
        d = results[results["config"] == config]
        return {int(r.seed): r.run_dir for r in d.itertuples()}

    return {
        "frontend only": {"source": runs("frontend only"), "sensor": runs("frontend only")},
        f"multiview ({best})": {"source": runs(best), "sensor": runs(best)},
        "supervised": {"source": runs("supervised source"), "sensor": runs("supervised sensor")},
    }


def run_all(
    encoders: dict, fractions=FRACTIONS, n_subsamples: int = 3, seed: int = 0, progress=True
) -> dict:
    """:func:`run_efficiency` of every run of :func:`encoder_runs`: each run once, probed
    only on the tasks it is used for (the supervised runs on one task each)."""
    done: dict = {}
    todo: dict = {}
    for per_task in encoders.values():
        for task, r in per_task.items():
            for d in r.values():
                todo.setdefault(d, set()).add(task)
    for d in tqdm(sorted(todo), desc="label efficiency runs", disable=not progress):
        tasks = tuple(t for t in PROBE_TASKS if t in todo[d])
        done[d] = run_efficiency(d, fractions, n_subsamples, seed, tasks=tasks)
    return {
        enc: {task: {s: done[d] for s, d in r.items()} for task, r in per_task.items()}
        for enc, per_task in encoders.items()
    }


def with_provenance(scores: pd.DataFrame, results: pd.DataFrame, best: str) -> pd.DataFrame:
    """``scores`` with each row's provenance (see
    :func:`mvlib.evaluate.probe.results.provenance_cells`)."""
    configs = {
        "frontend only": ["frontend only"],
        f"multiview ({best})": [best],
        "supervised": ["supervised source", "supervised sensor"],
    }
    rows = [
        {**r, **provenance_cells(results, configs.get(r["encoder"], []))}
        for r in scores.to_dict("records")
    ]
    return pd.DataFrame(rows)
