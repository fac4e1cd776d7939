"""Tables 1 and 2 (paper 4) from the sweep's results: paired statistics with power, CSV.

Every comparison a table makes is the paired difference ``row - reference`` on the same
test clips and seeds, with a 95% CI from the seed × test-clip bootstrap of
:mod:`mvlib.evaluate.significance`, p-values corrected by Holm over the whole table (both tasks),
and, under the table, the minimum detectable difference at 80% power. A row is marked as
the better one only where the corrected test says so. Choices among configurations
(Table 1's "multiview (best)" row) are made on VALIDATION scores, never on test.

Metric conventions: source is the sample Jaccard index with the book's convention for a
clip without any true or predicted source (it scores 1, :data:`mvlib.evaluate.metrics.EMPTY_CLIP_JACCARD`;
sklearn's default 0 is shown beside it), sensor is accuracy. The DCASE micro/macro AUPRC of
the source task are shown beside Jaccard (mean over seeds; they are not sums over clips,
so their CI is over seeds only).

Each table is also written as CSV (:func:`write_csv`), one row per configuration with its
provenance (profile, seeds, git commit(s), data, frontend and weights identity).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from mvlib.core.config import Config
from mvlib.core.errors import MvlibError
from mvlib.evaluate.metrics import mean_ci
from mvlib.evaluate.probe import MAIN_FEATURE
from mvlib.evaluate.significance import holm, mdd, mean_bootstrap, paired_bootstrap
from mvlib.sweep import (
    PAPER_TABLE1,
    PAPER_TABLE2,
    RESULTS_FILE,
    Entry,
    frontend_dir,
    plan,
    split_seeds_of,
)

__all__ = [
    "DASH",
    "ALPHA",
    "POWER",
    "Table",
    "load_results",
    "collect",
    "best_multiview",
    "per_clip_matrix",
    "compare",
    "table1",
    "table2",
    "provenance_of",
    "reading",
    "figure2_data",
    "tables_dir",
    "write_csv",
    "write_frame",
    "provenance_cells",
]

DASH = "—"  #: what a cell without a value shows (never NaN)
ALPHA = 0.05  #: family-wise error rate of each table (Holm)
POWER = 0.8  #: power at which the minimum detectable difference is stated
N_BOOT = 2000
TASKS = {"source": "source Jaccard", "sensor": "sensor accuracy"}
METRIC = {"source": "source_jaccard", "sensor": "sensor_accuracy"}
VAL_METRIC = {"source": "source_val_jaccard", "sensor": "sensor_val_accuracy"}
MARKER = ".mvlib-tables"  #: marks a tables folder as created by mvlib


# --------------------------------------------------------------------------- loading


def load_results(paths) -> pd.DataFrame:
    """One row per run: name, group, seed, frontend, data, weights, and every metric.

    Adds ``git_commit`` and ``weights_sha256`` (from the run's provenance) to the summary.
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


def collect(cfg: Config, entries: list[Entry] | None = None, seeds=None) -> pd.DataFrame:
    """Results of every finished run of the grid plus the frontend-only baseline.

    With a split-seed axis (``sweep.split_seeds``) a run's unit of replication is the pair
    (split seed, seed): column ``seed`` then numbers those pairs (``split_seed`` and
    ``train_seed`` keep the two), so that paired statistics match runs on the same split.
    """
    runs = plan(cfg, entries, seeds)
    split_seeds = split_seeds_of(cfg)
    units = sorted({(sp if sp is not None else -1, s) for _, s, sp, _, _ in runs})
    unit = {u: i for i, u in enumerate(units)}
    meta = {}
    for e, s, sp, _, rd in runs:
        meta[str(rd)] = (e.name, e.group, s, sp)
    for sp in split_seeds:
        for s in sorted({s for _, s, _, _, _ in runs}):
            meta[str(frontend_dir(cfg, s, sp))] = ("frontend only", "baseline", s, sp)
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
    return pd.DataFrame(
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


# --------------------------------------------------------------------------- per clip


def _predictions(run_dir: str, cache: dict) -> dict:
    from mvlib.evaluate.probe import load_predictions

    if run_dir not in cache:
        cache[run_dir] = load_predictions(run_dir)
    return cache[run_dir]


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
    df : results from :func:`collect` (with ``run_dir``)
    config : configuration name
    task : "source" | "sensor"
    part : "test" | "val"
    kind : "score" (the task metric per clip) or "jaccard_empty0" (source)
    feature : feature set (default: the method's main feature, e.g. z_p ⊕ z_s)
    """
    cache = {} if cache is None else cache
    rows = df[df["config"] == config].sort_values("seed")
    series = {}
    for _, r in rows.iterrows():
        pred = _predictions(r["run_dir"], cache)
        feat = feature or _feature(r)
        key = f"{feat}.{task}.{part}.{kind}"
        if key not in pred:
            raise MvlibError(r["run_dir"], f"has no per-clip {key!r}", "probe the run again")
        series[int(r["seed"])] = pd.Series(pred[key], index=pred[f"clip_id.{part}"])
    return pd.DataFrame(series).T.sort_index()


def _aligned(a: pd.DataFrame, b: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, list]:
    """Common seeds, union of clips; a cell is kept only where both scored it."""
    seeds = sorted(set(a.index) & set(b.index))
    clips = sorted(set(a.columns) | set(b.columns))
    x = a.reindex(index=seeds, columns=clips).to_numpy(np.float64, copy=True)
    y = b.reindex(index=seeds, columns=clips).to_numpy(np.float64, copy=True)
    both = ~np.isnan(x) & ~np.isnan(y)
    x[~both], y[~both] = np.nan, np.nan
    keep = both.any(axis=0)
    return x[:, keep], y[:, keep], seeds


# --------------------------------------------------------------------------- choosing


def best_multiview(df: pd.DataFrame) -> tuple[str | None, pd.DataFrame]:
    """The multi-view configuration with the best VALIDATION score (mean of both tasks).

    Returns
    -------
    (name or None, DataFrame of every multi-view configuration's mean validation scores,
    best first)
    """
    mv = df[df["method"] == "multiview"] if "method" in df else df.iloc[0:0]
    if mv.empty:
        return None, pd.DataFrame()
    val = mv.groupby("config")[[VAL_METRIC["source"], VAL_METRIC["sensor"]]].mean()
    val["val average"] = val.mean(axis=1)
    val["seeds"] = mv.groupby("config").size()
    val = val.sort_values(["val average"], ascending=False, kind="mergesort")
    return str(val.index[0]), val


# --------------------------------------------------------------------------- tables


@dataclass
class Table:
    """A table of configurations with paired comparisons against a reference row.

    ``display`` is for reading (strings, "—" where there is no value), ``data`` the same
    numbers unrounded with provenance (what :func:`write_csv` writes), ``comparisons`` one
    row per (row, task) test, ``notes`` the Markdown lines to print under the table.
    """

    name: str
    display: pd.DataFrame
    data: pd.DataFrame
    comparisons: pd.DataFrame
    mdd: dict = field(default_factory=dict)  #: task -> minimum detectable difference
    notes: str = ""

    def _repr_html_(self) -> str:  # how Jupyter displays a Table
        return self.display.to_html()


def _fmt(x, spec: str = ".3f") -> str:
    return DASH if x is None or not np.isfinite(x) else format(x, spec)


def _p_text(p: float) -> str:
    if not np.isfinite(p):
        return DASH
    return "< 0.001" if p < 0.001 else f"{p:.3f}"


def _seed_mean(df: pd.DataFrame, config: str, col: str) -> tuple[float, float]:
    v = df.loc[df["config"] == config, col] if col in df else pd.Series(dtype=float)
    v = pd.to_numeric(v, errors="coerce").dropna()
    return mean_ci(v) if len(v) else (math.nan, math.nan)


def provenance_cells(df: pd.DataFrame, configs: list[str]) -> dict:
    """Provenance of the runs of some configurations: seeds, profile, data, frontend,
    weights (and hash), git commit(s), number of runs (distinct values space-separated)."""
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


def compare(
    df: pd.DataFrame,
    rows: dict[str, tuple[str, str]],
    reference: str,
    paper: dict | None = None,
    name: str = "table",
    n_boot: int = N_BOOT,
    alpha: float = ALPHA,
    boot_seed: int = 0,
) -> Table:
    """A table of configurations, each compared with ``reference`` on the same clips/seeds.

    Parameters
    ----------
    df : results from :func:`collect` (one frontend only)
    rows : label -> (configuration scored on source, configuration scored on sensor)
    reference : the label every other row is compared with (``row - reference``)
    paper : label -> (source, sensor) numbers of the paper, shown beside ours
    n_boot, boot_seed : bootstrap replicates and its seed
    alpha : family-wise error rate over the table's comparisons (Holm)
    """
    frontends = df["frontend"].unique() if len(df) else []
    assert len(frontends) <= 1, f"results mix frontends {list(frontends)}: filter by frontend first"
    if reference not in rows:
        raise ValueError(f"compare: reference {reference!r} is not one of the rows {list(rows)}")
    paper = paper or {}
    cache: dict = {}
    present = {label: cfgs for label, cfgs in rows.items() if df["config"].isin(list(cfgs)).any()}
    mats = {
        (label, task): per_clip_matrix(df, cfgs[i], task, cache=cache)
        for label, cfgs in present.items()
        for i, task in enumerate(TASKS)
        if (df["config"] == cfgs[i]).any()
    }
    data, tests = [], []
    for label, cfgs in present.items():
        row: dict = {"configuration": label, "source config": cfgs[0], "sensor config": cfgs[1]}
        for task, metric in TASKS.items():
            m = mats.get((label, task))
            if m is None:
                row.update({metric: math.nan, f"{metric} ci low": math.nan})
                row.update({f"{metric} ci high": math.nan, f"{task} test clips": 0})
                continue
            est = mean_bootstrap(m.to_numpy(np.float64), n_boot, boot_seed, alpha)
            row.update(
                {
                    metric: est.estimate,
                    f"{metric} ci low": max(0.0, est.ci_low),  # scores live in [0, 1]
                    f"{metric} ci high": min(1.0, est.ci_high),
                    f"{task} test clips": est.n_clips,
                }
            )
            if label != reference and (reference, task) in mats:
                a, b, seeds = _aligned(m, mats[(reference, task)])
                if len(seeds):
                    res = paired_bootstrap(a, b, n_boot, boot_seed, alpha)
                    tests.append({"configuration": label, "task": task, **res.as_dict()})
        row["source Jaccard (empty=0)"] = _seed_mean(df, cfgs[0], "source_jaccard_empty0")[0]
        row["source micro AUPRC"] = _seed_mean(df, cfgs[0], "source_micro_auprc")[0]
        row["source macro AUPRC"] = _seed_mean(df, cfgs[0], "source_macro_auprc")[0]
        row["paper source"], row["paper sensor"] = paper.get(label, (math.nan, math.nan))
        row.update(provenance_cells(df, list(cfgs)))
        data.append(row)
    comp = pd.DataFrame(tests)
    if len(comp):
        comp["p_holm"] = holm(comp["p"].to_numpy())
        comp["significant"] = comp["p_holm"] < alpha
        comp["winner"] = [
            (label if est > 0 else reference) if sig else ""
            for label, est, sig in zip(
                comp["configuration"], comp["estimate"], comp["significant"], strict=True
            )
        ]
    data = pd.DataFrame(data)
    for task in TASKS:
        for col in ("estimate", "ci_low", "ci_high", "p", "p_holm", "winner"):
            data[f"Δ {task} {col}"] = math.nan if col != "winner" else ""
        for r in comp[comp["task"] == task].itertuples() if len(comp) else ():
            i = data.index[data["configuration"] == r.configuration][0]
            for col in ("estimate", "ci_low", "ci_high", "p", "p_holm", "winner"):
                data.loc[i, f"Δ {task} {col}"] = getattr(r, col)
    n_tests = int(comp["p"].notna().sum()) if len(comp) else 0
    mdds, notes = {}, []
    for task, label in TASKS.items():
        ses = comp.loc[comp["task"] == task, "se"] if len(comp) else pd.Series(dtype=float)
        if len(ses) and n_tests:
            worst = comp.loc[ses.idxmax()]
            se = float(worst["se"])
            strict = alpha / n_tests
            mdds[task] = mdd(se, strict, POWER)
            notes.append(
                f"- {label}: minimum detectable difference: {mdds[task]:.3f} "
                f"(80% power, two-sided α = {alpha:g}/{n_tests} = {strict:.4f}, the strictest "
                f"Holm level of this table's {n_tests} comparisons; largest paired bootstrap "
                f"SE {se:.4f}, of which seeds alone {worst['se_units']:.4f} and test clips "
                f"alone {worst['se_clips']:.4f}; at α = {alpha:g} uncorrected: "
                f"{mdd(se, alpha, POWER):.3f})"
            )
    if len(comp):
        s, n = int(comp["n_seeds"].max()), int(comp["n_clips"].max())
        notes.insert(
            0,
            f"Δ = row − {reference} on the same test clips and seeds ({s} seeds × {n} test "
            f"clips), 95% CI from {n_boot} bootstrap replicates resampling seeds and test "
            f"clips; p-values Holm-corrected over the table's {n_tests} comparisons; a row "
            f"is named better only where the corrected p < {alpha:g}.",
        )
    table = Table(name, _display(data, reference), data, comp, mdds, "\n".join(notes))
    return table


def _display(data: pd.DataFrame, reference: str) -> pd.DataFrame:
    out = []
    for r in data.to_dict("records"):
        row = {"configuration": r["configuration"], "seeds": len(r["seeds"].split())}
        for label in TASKS.values():
            m, lo, hi = r[label], r[f"{label} ci low"], r[f"{label} ci high"]
            row[label] = DASH if not np.isfinite(m) else f"{m:.3f} [{lo:.3f}, {hi:.3f}]"
        for task in TASKS:
            if r["configuration"] == reference:
                row[f"Δ {task} [95% CI]"], row[f"p {task} (Holm)"] = "reference", DASH
                continue
            e, lo, hi = (r[f"Δ {task} {c}"] for c in ("estimate", "ci_low", "ci_high"))
            row[f"Δ {task} [95% CI]"] = (
                DASH if not np.isfinite(e) else f"{e:+.3f} [{lo:+.3f}, {hi:+.3f}]"
            )
            row[f"p {task} (Holm)"] = _p_text(r[f"Δ {task} p_holm"])
        if r["configuration"] == reference:
            row["better (Holm)"] = "reference"
        else:
            wins = [f"{t}: {r[f'Δ {t} winner']}" for t in TASKS if r[f"Δ {t} winner"]]
            row["better (Holm)"] = "; ".join(wins) if wins else "no significant difference"
        row["source micro AUPRC"] = _fmt(r["source micro AUPRC"])
        row["source macro AUPRC"] = _fmt(r["source macro AUPRC"])
        row["source Jaccard (empty=0)"] = _fmt(r["source Jaccard (empty=0)"])
        row["paper source"] = _fmt(r["paper source"])
        row["paper sensor"] = _fmt(r["paper sensor"])
        out.append(row)
    return pd.DataFrame(out).set_index("configuration") if out else pd.DataFrame()


def table1(df: pd.DataFrame, best: str | None = None, **kw) -> Table:
    """Table 1: the best multi-view configuration (chosen on validation) against the baselines.

    Parameters
    ----------
    best : the multi-view configuration of the first row (default: :func:`best_multiview`)
    """
    best = best or best_multiview(df)[0] or "rec + cos- sample"
    rows = {
        "multiview (best)": (best, best),
        "singleview AE": ("singleview AE", "singleview AE"),
        "contrastive (InfoNCE)": ("contrastive (InfoNCE)", "contrastive (InfoNCE)"),
        "frontend only": ("frontend only", "frontend only"),
        "supervised": ("supervised source", "supervised sensor"),
    }
    t = compare(df, rows, "multiview (best)", PAPER_TABLE1, name="table1", **kw)
    t.notes = (
        f"The multiview (best) row is **{best}**, the multi-view configuration with the best "
        f"mean validation score (never chosen on test).\n" + t.notes
    )
    return t


def table2(df: pd.DataFrame, mask_ratios=(0.2, 0.4, 0.6, 0.8), **kw) -> Table:
    """Table 2: objectives on the multi-view backbone, each compared with rec alone."""
    names = ["rec"] + [f"rec + cos{s} {lv}" for s in "-+" for lv in ("sample", "batch")]
    names += [f"rec + mask z_p r={r:g}" for r in mask_ratios]
    return compare(df, {n: (n, n) for n in names}, "rec", PAPER_TABLE2, name="table2", **kw)


# --------------------------------------------------------------------------- reading


def _verdict(t: Table, label: str, task: str) -> tuple[float, bool, str]:
    """(Δ row − reference, significant after Holm, text) of one comparison of a table."""
    c = t.comparisons
    r = c[(c["configuration"] == label) & (c["task"] == task)] if len(c) else c
    if r.empty:
        return math.nan, False, "not measured"
    r = r.iloc[0]
    sig = bool(r["significant"])
    text = f"Δ {r['estimate']:+.3f}, Holm p {_p_text(r['p_holm'])}"
    return float(r["estimate"]), sig, text + ("" if sig else ", not significant")


def _claim(text: str, outcomes: list | None, detail: str) -> str:
    """One claim's verdict from its tests: ``outcomes`` = [(Δ signed so that > 0 is the
    paper's direction, significant after Holm)], None when not measured."""
    if not outcomes or any(not np.isfinite(e) for e, _ in outcomes):
        return f"* {text} — **not measured**."
    if all(e > 0 and sig for e, sig in outcomes):
        verdict = "holds here"
    elif any(e < 0 and sig for e, sig in outcomes):
        verdict = "contradicted here"
    else:
        verdict = "not resolved here"
    return f"* {text} — **{verdict}** ({detail})."


def reading(df: pd.DataFrame, t1: Table, n_boot: int = N_BOOT) -> str:
    """The paper's main claims (section 4.1), each checked with the tables' paired tests.

    A claim "holds" where every test it rests on is significant after Holm's correction
    in the paper's direction, is "contradicted" where one is significant in the opposite
    direction, and is "not resolved" otherwise.
    """

    def check(t, label):
        """Does the reference row beat ``label`` on both tasks (Δ = label − reference < 0)?"""
        parts, outcomes = [], []
        for task in TASKS:
            est, sig, txt = _verdict(t, label, task)
            outcomes.append((-est, sig))
            parts.append(f"{task}: {txt}")
        return outcomes, "; ".join(parts)

    lines = []
    for text, label in (
        (
            "The best multi-view model beats the single-view autoencoder on both tasks",
            "singleview AE",
        ),
        ("It beats the frontend features alone on both tasks", "frontend only"),
        ("InfoNCE on same-sensor pairs is weaker than it on both tasks", "contrastive (InfoNCE)"),
    ):
        lines.append(_claim(text, *check(t1, label)))
    lines.append(_cos_contrast(df, n_boot))
    lines.append(_mask_claim(df, n_boot))
    best, val = best_multiview(df)
    if best is not None:
        lines.append(
            f"* Best multi-view objective here, chosen on validation: **{best}** (mean "
            f"validation score {val.loc[best, 'val average']:.3f}); the paper's is rec + cos− "
            "sample."
        )
    lines.append(
        "\n'Holds' needs every test the claim rests on to be significant after Holm's "
        "correction in the paper's direction; 'contradicted' means one is significant in the "
        "opposite direction; 'not resolved' means the differences cannot be told from zero "
        "by this design (see the minimum detectable difference under each table)."
    )
    return "\n".join(lines)


def _cos_contrast(df: pd.DataFrame, n_boot: int) -> str:
    """cos− vs cos+ (both levels averaged per clip), per task, Holm over the two tasks."""
    text = "Separation (cos−) beats similarity (cos+) objectives"
    names = {s: [f"rec + cos{s} {lv}" for lv in ("sample", "batch")] for s in "-+"}
    if not all((df["config"] == n).any() for v in names.values() for n in v):
        return _claim(text, None, "")
    cache: dict = {}
    res = {}
    for task in TASKS:
        m = {
            s: sum(per_clip_matrix(df, n, task, cache=cache) for n in v) / len(v)
            for s, v in names.items()
        }
        a, b, _ = _aligned(m["-"], m["+"])
        res[task] = paired_bootstrap(a, b, n_boot)
    p = holm([res[t].p for t in TASKS])
    outcomes = [(res[t].estimate, bool(p[i] < ALPHA)) for i, t in enumerate(TASKS)]
    detail = "; ".join(
        f"{t}: Δ {res[t].estimate:+.3f} [{res[t].ci_low:+.3f}, {res[t].ci_high:+.3f}], "
        f"Holm p {_p_text(p[i])} over these 2 tests"
        for i, t in enumerate(TASKS)
    )
    return _claim(text, outcomes, detail)


def _mask_claim(df: pd.DataFrame, n_boot: int) -> str:
    """Masking z_p vs rec alone on DSCΔ shared (sensor into z_s), Holm over the mask ratios."""
    text = "Masking z_p pushes sensor information into z_s (DSCΔ shared above rec alone)"
    masks = sorted(c for c in df["config"].unique() if str(c).startswith("rec + mask"))
    if not masks or not (df["config"] == "rec").any():
        return _claim(text, None, "")
    cache: dict = {}

    def dsc_shared(config):
        z_s = per_clip_matrix(df, config, "sensor", feature="z_s", cache=cache)
        return z_s - per_clip_matrix(df, config, "sensor", feature="z_p", cache=cache)

    ref = dsc_shared("rec")
    res = {m: paired_bootstrap(*_aligned(dsc_shared(m), ref)[:2], n_boot) for m in masks}
    p = holm([r.p for r in res.values()])
    outcomes = [(r.estimate, bool(p[i] < ALPHA)) for i, r in enumerate(res.values())]
    detail = "; ".join(
        f"{m.replace('rec + mask z_p ', '')}: Δ {r.estimate:+.3f} [{r.ci_low:+.3f}, "
        f"{r.ci_high:+.3f}], Holm p {_p_text(p[i])}"
        for i, (m, r) in enumerate(res.items())
    )
    return _claim(text + ", at every mask ratio", outcomes, detail)


# --------------------------------------------------------------------------- Figure 2

#: task -> (subspace that SHOULD hold it, the other one), as in eqs. 6 and 7
_DSC = {"source": ("z_p", "z_s"), "sensor": ("z_s", "z_p")}


def figure2_data(df: pd.DataFrame, n_boot: int = N_BOOT, boot_seed: int = 0) -> pd.DataFrame:
    """Figure 2's numbers: per multi-view configuration and task, the overall score and DSCΔ.

    Both with 95% CIs from the seed × test-clip bootstrap: the overall score is the joint
    latent's per-clip score; DSCΔ (eqs. 6, 7) is the paired per-clip difference between the
    desired and the other subspace's probe on the same clips (source: z_p − z_s, sensor:
    z_s − z_p). The frontend-only baseline comes as config "frontend only" (no DSCΔ);
    ``paper`` is the paper's overall score where Table 2 gives one.

    Returns
    -------
    DataFrame with columns config, group, task, overall, overall_low, overall_high, dsc,
    dsc_low, dsc_high, paper, seeds
    """
    cache: dict = {}
    rows = []
    mv = df[df["method"] == "multiview"]
    order = {"rec": 0, "cos": 1, "mask": 2}  # the paper's strategy order
    rank = mv["group"].map(order).fillna(len(order)) if "group" in mv else 0
    configs = list(
        dict.fromkeys(mv.assign(_rank=rank).sort_values("_rank", kind="mergesort")["config"])
    )
    for config in configs + ["frontend only"]:
        if not (df["config"] == config).any():
            continue
        group = df.loc[df["config"] == config, "group"].iloc[0] if "group" in df else ""
        for i, task in enumerate(TASKS):
            m = per_clip_matrix(df, config, task, cache=cache).to_numpy(np.float64)
            est = mean_bootstrap(m, n_boot, boot_seed)
            row = {
                "config": config,
                "group": group,
                "task": task,
                "overall": est.estimate,
                "overall_low": max(0.0, est.ci_low),  # scores live in [0, 1]
                "overall_high": min(1.0, est.ci_high),
                "dsc": math.nan,
                "dsc_low": math.nan,
                "dsc_high": math.nan,
                "paper": PAPER_TABLE2.get(config, (math.nan, math.nan))[i],
                "seeds": m.shape[0],
            }
            if config != "frontend only":
                want, other = _DSC[task]
                a, b, _ = _aligned(
                    per_clip_matrix(df, config, task, feature=want, cache=cache),
                    per_clip_matrix(df, config, task, feature=other, cache=cache),
                )
                d = paired_bootstrap(a, b, n_boot, boot_seed)
                row.update(dsc=d.estimate, dsc_low=d.ci_low, dsc_high=d.ci_high)
            rows.append(row)
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------- CSV


def tables_dir(path) -> Path:
    """A folder for the tables' CSV files, created and marked by mvlib.

    mvlib writes only into folders it created: an existing folder without mvlib's marker
    file is refused.
    """
    path = Path(path)
    if path.exists():
        if not (path / MARKER).exists():
            raise MvlibError(
                path,
                "exists and was not created by mvlib (no marker file), so mvlib will not write "
                "into it",
                "pass another tables_dir, or remove the folder",
            )
        return path
    path.mkdir(parents=True)
    (path / MARKER).write_text(
        "Created by mvlib (mvlib.report.tables); its files are regenerated.\n"
    )
    return path


def write_csv(table: Table, folder) -> Path:
    """Write ``table.data`` as ``<folder>/<name>.csv`` (and the notes as ``<name>.notes.md``).

    One row per configuration: its scores and CIs, the paired comparison with the reference
    (estimate, CI, p, Holm p, winner), the table's minimum detectable difference per task,
    the paper's numbers, and the row's provenance (profile, seeds, git commit(s), data,
    frontend, weights and their hash). Column names are snake_case ASCII; an empty cell
    means "no value" (never NaN). ``folder`` must be one mvlib created (:func:`tables_dir`).
    """
    from mvlib.core.cache import atomic_write_text

    folder = tables_dir(folder)
    out = folder / f"{table.name}.csv"
    data = table.data.copy()
    for task, value in table.mdd.items():
        data[f"minimum detectable difference {task}"] = value
    out = write_frame(data, table.name, folder)
    atomic_write_text(folder / f"{table.name}.notes.md", table.notes + "\n")
    return out


def write_frame(data: pd.DataFrame, name: str, folder) -> Path:
    """Write any results frame as ``<folder>/<name>.csv`` (snake_case columns, no NaN)."""
    from mvlib.core.cache import atomic_write_text

    folder = tables_dir(folder)
    out = folder / f"{name}.csv"
    data = data.copy()
    data.columns = [_snake(str(c)) for c in data.columns]
    atomic_write_text(out, data.to_csv(index=False, na_rep="", float_format="%.6g"))
    return out


def _snake(col: str) -> str:
    """``"Δ source ci_low"`` -> ``"delta_source_ci_low"``; ``"source Jaccard (empty=0)"`` ->
    ``"source_jaccard_empty0"``."""
    col = col.replace("Δ", "delta").replace("(empty=0)", "empty0")
    return "_".join(col.lower().replace("(", " ").replace(")", " ").split())
