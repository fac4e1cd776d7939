"""Design of the default book: predicted power per CPU-second from measured variance parts.

Every comparison of Tables 1 and 2 (:func:`mvlib.evaluate.significance.paired_difference`)
splits its variance into a units' and a sensors' part. Measured on a finished sweep, the
parts predict each row's SE, Satterthwaite df, "too few units" mark and minimum detectable
difference (MDD: 80% power at Holm's strictest level α/m, m the table's comparisons) under
another design (seeds S, split seeds K, clips per sensor C, epochs E; 12 test sensors), and
the chapters' measured timings predict its cost. Reads caches only::

    python benchmarks/design.py --codec-cache /tmp/mvlib-book-cache-XXXX \\
        --worlds-cache /work/worlds-cache --write

**Variance model** (book/method.md, "Paired comparisons"). On one split of R units × 12
sensors (π_k their shares of the N test clips), a unit's mean difference on a sensor is
M_rk = θ + a_r + b_k + (ab)_rk + e_rk. The units' part v_u = max(v_U − v_I, 0) estimates
σ²_a/R; the sensors' part v_c estimates Σπ²σ²_b + Σπ²(σ²_ab + σ²_e/n)/R, whose second term
is v_I (double-centred residual). Per row, design-free: ``unit`` = R·v_u; ``sensor`` =
v_c − v_I; ``clip`` = N × the mean over units of Σ_k π_k² s²_rk/n_k (s² within a unit and
sensor); ``inter`` = R·v_I − clip/N; from two or more splits ``split`` = s²_θ − the mean
within-split variance (as ``_combine``; clamped at 0; taken as 0 when not measured). S seeds
on each of G = K splits with N' = N·C/80 clips:

    v_u' = unit/S,  v_c' = max(sensor + (inter + clip/N')/S, 0),
    var = (v_u' + v_c')/G + split/G (G > 1).

df: Satterthwaite (S − 1 per split for units, 11 per split for sensors, G − 1 for a positive
split term); "too few units": the units' part over half the variance on < MIN_DF = 3
replicates (S − 1 on one split, G − 1 with a positive split term); ``E[few]`` adds the
chance of a mark by estimation noise (v̂_u ≈ v_u χ²_{S−1}/(S−1) against v̂_c ≈ v_c χ²_11/11;
with 2 or 3 splits a χ²_{G−1} tail). The same design is predicted exactly
(tests/benchmarks/test_design.py). The parts are the codec sweep's (3 seeds, ``BASE``); the
worlds study's first cell (linear world, log-mel, 6 seeds) checks the model: its seeds 0–2
predict its seeds 0–3 and 0–5. Assumed: the per-unit parts change neither with clips nor
with epochs; splits are balanced. The recommendation follows ``RULE``.

**Cost model**: wall seconds of a book build from an empty cache on 2 cores, per chapter
fixed + variable × driver/driver(calibration), exact for ``book-default.json`` (the design it
records in ``design_units``; 3 seeds, ``BASE``, when it records none), checked
against ``book-full.json``. Drivers: clips (01, 02), units (05), units × clips (06), one
training's epochs (03), none (scaling, the build); the fixed part is where the line through
the default and full builds meets driver 0, clamped to [0, default] (02: its 20 random-DAC
clips, ~40 s). Chapter 04: 2 workers run 13 trainings per unit, each its epochs (measured
seconds of epochs < E, losses.csv) and probes (the run's wall outside training, ∝ clips),
plus its own ~12 s (the codec build's chapter 04 less its sweep's span).
"""

from __future__ import annotations

import argparse
import csv
import datetime
import json
import math
import os
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from unittest import mock

import numpy as np
import provenance  # benchmarks/provenance.py: a script beside this one
from scipy import stats

from mvlib import load_config  # the public one: `frontend: auto` resolved, as the chapters do
from mvlib.core.cache import atomic_write_json, strict_json
from mvlib.evaluate import significance as sig  # its variance parts, the book's own
from mvlib.evaluate.score_matrix import unit_splits
from mvlib.evaluate.significance import MIN_DF, mdd, paired_difference
from mvlib.report.results import (
    TASKS,
    best_multiview,
    clip_sensors,
    common,
    per_clip_matrix,
)
from mvlib.report.tables import TABLE1_REFERENCE, TABLE2_REFERENCE, table1_rows, table2_rows
from mvlib.sweep import collect, entries_of, grid
from mvlib.worlds import CANDIDATES, cell_config

RESULTS = Path(__file__).resolve().parent / "results"
ALPHA, POWER = 0.05, 0.8  #: the book's (mvlib.report.comparison)
M_TABLE = {"table1": 8, "table2": 16}  #: comparisons per table: Holm's m
BUDGET_S, MARGIN = 900.0, 0.9  #: the book's 15 minutes on 2 cores; a fit leaves 10% of it
RANDOM_DAC_S = 40.0  #: chapter 02's 20 random-DAC clips at ~2 s (params/default.yml)
RULE = (
    f"of the designs predicted to cost <= {MARGIN:g} x {BUDGET_S:.0f} s on 2 cores with no row "
    "predicted 'too few units' (E[too few] < 0.5), those that keep the measured training length "
    "(15 epochs), then the smallest predicted median MDD of the 24 rows"
)
CAVEATS = [
    "the variance parts are the codec frontend's (its 3-seed sweep has all 24 rows); the "
    "default book runs on log-mel (the worlds cell checks the model there, on 6 of the rows)",
    "book-default.json (the cost calibration, 3 seeds) was measured at 399c3fc, before "
    "chapter 2 gained its codec section: today's builds cost more than predicted",
    "book-full.json's chapters ran ~1.4x slower per unit of work than book-default.json's "
    "(another commit): the cost model predicts the full build at ~0.7 of its measured time",
    "fewer epochs are assumed to leave the per-unit variance unchanged (not measured)",
    "no sweep has two split seeds: designs with 2 or 3 take the split variance as 0",
    "the worlds check is not out of sample: its seeds 0-2 are among the seeds it predicts",
]


@dataclass(frozen=True)
class Design:
    """A sweep design: seeds × split seeds (units), clips per sensor, epoch budget."""

    seeds: int = 3
    splits: int = 1
    clips: int = 80  #: clips per sensor (test clips per split: 12 × clips × 0.6)
    epochs: int = 15

    @property
    def units(self) -> int:
        return self.seeds * self.splits

    @property
    def label(self) -> str:
        return f"{self.seeds}s×{self.splits}k {self.clips}c {self.epochs}e"


#: the measured design: the codec sweep's and book-default.json's (3 seeds, as the default
#: book had before params/default.yml moved to 4)
BASE = Design()
FULL = Design(3, 4, 300, 15)


@dataclass(frozen=True)
class Components:
    """A row's variance parts, design-free (module docstring); NaN: not measurable."""

    unit: float  #: units' part × units (per unit)
    sensor: float  #: sensors' part that neither units nor clips average away
    inter: float  #: unit × sensor interaction, per unit
    clip: float  #: clip noise per unit × test clips per split
    split: float  #: between-split variance, unclamped (NaN from one split)
    sensors: int  #: test sensors per split
    n_clips: float  #: test clips per split of the measured design


@dataclass(frozen=True)
class Prediction:
    se: float
    se_units: float
    se_sensors: float
    df: float
    resolvable: bool
    mdd: float
    p_too_few: float  #: chance the row is marked "too few units" (sampling noise)


def _split_components(block: np.ndarray, codes: np.ndarray) -> dict:
    """One split's parts from its differences ``block`` ndarray[R x n] (module docstring)."""
    M, pi = sig._split_means(block, codes)
    part = sig._split_part(M, pi)
    R, K = M.shape
    _, inv = np.unique(codes, return_inverse=True)
    n_k = np.bincount(inv, minlength=K)
    within = np.zeros_like(M)  # within-(unit, sensor) sample variance of the clips
    for k in range(K):
        if n_k[k] > 1:
            within[:, k] = block[:, inv == k].var(axis=1, ddof=1)
    noise = float(np.mean(within @ (pi**2 / n_k)))  # per unit: Σ π² s² / n
    v_i = 0.0
    if R > 1 and K > 1:
        r = M - (M @ pi)[:, None] - M.mean(axis=0)[None, :] + part.theta
        v_i = float(np.sum(pi**2) * np.sum(r**2) / ((R - 1) * (K - 1)) / R)
    noise = min(noise, R * v_i)  # the clips' share of R·v_I, never more than all of it
    v_c = 0.0 if math.isnan(part.v_clusters) else part.v_clusters
    return {
        "theta": part.theta,
        "within": (0.0 if math.isnan(part.v_units) else part.v_units) + v_c,
        "unit": R * part.v_units if R > 1 else math.nan,
        "sensor": v_c - v_i,
        "inter": R * v_i - noise,
        "clip": noise * block.shape[1],
        "sensors": K,
        "n_clips": block.shape[1],
    }


def components(a, b, clusters) -> Components:
    """The variance parts of the comparison ``a - b`` (score matrices [units x clips],
    ``clusters`` the sensor of every clip), pooled over its splits (equal sizes assumed)."""
    d, codes = sig._paired_cells(a, b, ALPHA, clusters)
    parts = [_split_components(d[np.ix_(u, c)], codes[c]) for u, c in unit_splits(~np.isnan(d))]
    mean = {k: float(np.mean([p[k] for p in parts])) for k in parts[0] if k != "theta"}
    split = math.nan
    if len(parts) > 1:
        split = float(np.var([p["theta"] for p in parts], ddof=1)) - mean["within"]
    mean["sensors"] = int(round(mean["sensors"]))
    return Components(**{k: v for k, v in mean.items() if k != "within"}, split=split)


def predict(c: Components, design: Design, measured: Design, m: int) -> Prediction:
    """A row's SE, df, resolvability and MDD (at α/m) under ``design``, from its parts
    measured on ``measured`` (the split variance: 0 when not measured)."""
    R, G, K = design.seeds, design.splits, c.sensors
    n = c.n_clips * design.clips / measured.clips
    v_u = c.unit / R if R > 1 else math.nan
    v_c = max(c.sensor + (c.inter + c.clip / n) / R, 0.0)
    split = 0.0 if math.isnan(c.split) else max(c.split, 0.0)
    v_split = split / G if G > 1 else 0.0
    vu = (0.0 if math.isnan(v_u) else v_u) / G + v_split
    vc = v_c / G
    var = vu + vc
    den = (G * (v_u / G**2) ** 2 / (R - 1) if R > 1 else 0.0) + G * (v_c / G**2) ** 2 / (K - 1)
    if v_split > 0:
        den += ((v_u + v_c + split) / G) ** 2 / (G - 1)
    df = var**2 / den if den > 0 else math.inf
    reps = G - 1 if v_split > 0 else G * (R - 1)
    resolvable = R * G >= 2 and not (vu > 0.5 * var and reps < MIN_DF)
    se, few = math.sqrt(var), _p_too_few(v_u, v_c, split, design, K)
    at = mdd(se, ALPHA / m, POWER, df=df)
    return Prediction(se, math.sqrt(vu), math.sqrt(vc), df, resolvable, at, few)


def _p_too_few(v_u: float, v_c: float, split: float, design: Design, K: int) -> float:
    """Approximate chance that the row comes out "too few units" (module docstring)."""
    R, G = design.seeds, design.splits
    if R * G < 2:
        return 1.0
    if math.isnan(v_u) or v_u <= 0:  # one seed per split: only the split term is left
        v_u = 0.0

    def dominant_by_chance(reps: int) -> float:  # P(v̂_u > v̂_c) with reps replicates
        if reps >= MIN_DF or v_u <= 0:
            return 0.0
        return float(stats.f.sf(v_c / v_u, reps, K - 1)) if v_c > 0 else 1.0

    if G == 1:
        return dominant_by_chance(R - 1)
    W = v_u + v_c  # a split's own variance: s²_θ ~ (W + split) χ²_{G-1} / (G - 1)
    c = (G - 1) * W / (W + split) if W + split > 0 else math.inf
    p_pos = float(stats.chi2.sf(c, G - 1))
    if p_pos > 0 and G - 1 < MIN_DF:  # E[v̂_split | positive] from the χ² tail
        tail = (W + split) * stats.chi2.sf(c, G + 1) - W * stats.chi2.sf(c, G - 1)
        v_split = float(tail) / p_pos / G
        positive = float(v_u / G + v_split > v_c / G)
    else:
        positive = 0.0
    return p_pos * positive + (1.0 - p_pos) * dominant_by_chance(G * (R - 1))


# --- the measured rows: Tables 1 and 2 as chapter 4 builds them ----------------------------


@dataclass
class Row:
    table: str
    label: str
    task: str
    a: np.ndarray
    b: np.ndarray
    clusters: np.ndarray

    @property
    def key(self) -> str:
        return f"{self.table}|{self.label}|{self.task}"


def row_pairs(df, best: str, mask_ratios) -> list[Row]:
    """Every comparison of Tables 1 and 2 that ``df`` (one frontend) has both sides of, with
    its score matrices and clusters, as :func:`mvlib.report.comparison.compare` pairs them."""
    cache: dict = {}
    sensors = clip_sensors(df, cache=cache)
    present = set(df["config"])
    out = []
    for table, rows, ref in (
        ("table1", table1_rows(best), TABLE1_REFERENCE),
        ("table2", table2_rows(mask_ratios), TABLE2_REFERENCE),
    ):
        for label, cfgs in rows.items():
            for i, task in enumerate(TASKS):
                if label == ref or not {cfgs[i], rows[ref][i]} <= present:
                    continue
                x = per_clip_matrix(df, cfgs[i], task, cache=cache)
                y = per_clip_matrix(df, rows[ref][i], task, cache=cache)
                a, b, _, clips = common(x, y)
                out.append(Row(table, label, task, a, b, np.array([sensors[c] for c in clips])))
    return out


def codec_rows(cache: str) -> tuple[list[Row], str]:
    """Tables 1 and 2's rows of the codec profile's finished sweep in ``cache``."""
    with mock.patch.dict(os.environ, {"MVLIB_CACHE": str(cache)}):
        cfg = load_config("codec")
        df = collect(cfg, grid(cfg.sweep.mask_ratios), list(cfg.sweep.seeds))
        if not len(df):
            sys.exit(f"design: no finished codec runs in {cache}")
        if not (df["config"] == "frontend only").any():  # its folder's hash: another config?
            sys.exit(f"design: no frontend-only runs of the codec sweep in {cache}")
        df = df[df.frontend == df.frontend.iloc[0]]
        best = best_multiview(df)[0]
        return row_pairs(df, best, cfg.sweep.mask_ratios), best


def worlds_rows(cache: str) -> dict[int, list[Row]] | None:
    """The worlds study's first cell (linear world, log-mel, one split): its rows on seeds
    0–2 (3: the measured design), 0–3 (4) and all (6), the best multi-view row chosen on all
    of them; None until every run of the cell is in."""
    with mock.patch.dict(os.environ, {"MVLIB_CACHE": str(cache)}):
        cfg = cell_config(load_config("worlds"), "linear", "logmel")
        df = collect(cfg, entries_of(cfg, CANDIDATES))
        df = df[df["frontend"] == cfg.features.frontend] if len(df) else df
        seeds = sorted(cfg.sweep.seeds)
        if len(df) < (len(CANDIDATES) + 1) * len(seeds):
            return None
        best = best_multiview(df)[0]
        return {
            n: row_pairs(df[df["seed"].isin(seeds[:n])], best, cfg.sweep.mask_ratios)
            for n in (3, 4, len(seeds))
        }


# --- cost ----------------------------------------------------------------------------------


@dataclass
class CostModel:
    """Book wall seconds on 2 cores per chapter: fixed + variable × driver ratio."""

    fixed: dict[str, float]
    variable: dict[str, float]
    driver: dict[str, str]
    sweep: dict[str, float]  #: chapter 04: own, train (work-s), probe (work-s)
    epoch_seconds: list[list[float]] = field(default_factory=list)  #: per run, per epoch
    base: Design = BASE  #: the design book-default.json measured (the calibration)

    def epoch_share(self, epochs: int) -> float:
        """Share of the default's training seconds a budget of ``epochs`` keeps (each run
        as measured, cut at ``epochs``)."""
        total = sum(sum(r) for r in self.epoch_seconds)
        return sum(sum(r[:epochs]) for r in self.epoch_seconds) / total if total else 1.0

    def ratio(self, driver: str, d: Design) -> float:
        b = self.base
        u, c, e = d.units / b.units, d.clips / b.clips, self.epoch_share(d.epochs)
        return {"clips": c, "units": u, "units×clips": u * c, "epochs": e, "none": 1.0}[driver]

    def seconds(self, d: Design) -> dict[str, float]:
        out = {
            ch: self.fixed[ch] + self.variable[ch] * self.ratio(dr, d)
            for ch, dr in self.driver.items()
        }
        s, e = self.sweep, self.epoch_share(d.epochs)
        b = self.base
        work = d.units / b.units * (s["train"] * e + s["probe"] * d.clips / b.clips)
        out["04_ablations"] = s["own"] + work / 2  # two workers on two cores
        out["total"] = sum(out.values())
        return out


DRIVERS = {"01_data_pairing": "clips", "02_dac_extraction": "clips", "03_train": "epochs",
           "05_disentanglement": "units", "06_label_efficiency": "units×clips",
           "07_worlds": "none", "scaling": "none", "build (not chapters)": "none"}  # fmt: skip


def _runs_timing(runs_dir: Path) -> tuple[list[list[float]], list[float], float]:
    """Per trained run: its epochs' seconds (losses.csv), its wall outside training
    (run.claim.json), and the sweep's span (first claim to last release)."""
    epochs, outside, since, released = [], [], [], []
    for d in sorted(runs_dir.iterdir()):
        claim, losses = d / "run.claim.json", d / "losses.csv"
        if not (claim.is_file() and losses.is_file()):
            continue
        c = json.loads(claim.read_text())
        if "released" not in c:
            continue
        per = {}
        with open(losses) as f:
            for r in csv.DictReader(f):
                per[int(r["epoch"])] = float(r["seconds"])
        epochs.append([per[e] for e in sorted(per)])
        outside.append(c["released"] - c["since"] - sum(per.values()))
        since.append(c["since"])
        released.append(c["released"])
    return epochs, outside, (max(released) - min(since)) if since else math.nan


def calibration(default: dict) -> Design:
    """The design book-default.json measured (its ``design_units``; BASE when absent)."""
    u = default.get("design_units")
    if not u:
        return BASE
    return Design(u["seeds"], u["split_seeds"], u["clips_per_sensor"], u["epochs"])


def cost_model(runs_dir: Path, codec_chapter4_s: float) -> CostModel:
    """The cost model, calibrated on book-default.json and the runs of ``runs_dir`` (a
    finished default-design sweep: per-run epochs and probes), with book-full.json for
    the fixed parts."""
    default = json.loads((RESULTS / "book-default.json").read_text())
    full = json.loads((RESULTS / "book-full.json").read_text())
    cd, cf = dict(default["chapters"]), dict(full["chapters"])
    cd["build (not chapters)"] = default["wall_s"] - sum(default["chapters"].values())
    cf["build (not chapters)"] = full["wall_s"] - sum(full["chapters"].values())
    model = CostModel({}, {}, dict(DRIVERS), {}, base=calibration(default))
    model.epoch_seconds, outside, span = _runs_timing(runs_dir)
    for ch, drv in DRIVERS.items():
        if ch not in cd:  # a chapter the measured build did not have
            model.fixed[ch], model.variable[ch] = 0.0, 0.0
            continue
        x0, x1 = model.ratio(drv, model.base), model.ratio(drv, FULL)
        a = cd[ch] if x1 == x0 else (x1 * cd[ch] - x0 * cf[ch]) / (x1 - x0)
        if ch == "02_dac_extraction":
            a = RANDOM_DAC_S
        model.fixed[ch] = min(max(a, 0.0), cd[ch])
        model.variable[ch] = cd[ch] - model.fixed[ch]
    own = codec_chapter4_s - span  # chapter 04 outside the sweep (the codec build)
    work = 2 * (cd["04_ablations"] - own)
    # probes: the codec sweep's runs (BASE's units) scaled to the calibration's units
    probe = min(len(outside) / BASE.units * model.base.units * float(np.mean(outside)), work)
    model.sweep = {"own": own, "train": work - probe, "probe": probe}
    share = model.sweep["train"] / work  # one training (03): the sweep's training share
    model.fixed["03_train"] = cd["03_train"] * (1 - share)
    model.variable["03_train"] = cd["03_train"] * share
    return model


def summarise(preds: dict[str, Prediction]) -> dict:
    """Median MDD per table and task, per task (12 rows), over all rows, and the too-few counts."""
    out: dict = {}
    for table in (*M_TABLE, "all"):
        for task in ("source", "sensor"):
            v = [p.mdd for k, p in preds.items() if k.endswith(task) and table in ("all", k[:6])]
            out[f"{table} {task}"] = float(np.median(v)) if v else math.nan
    out["all"] = float(np.median([p.mdd for p in preds.values()]))
    out["too_few"] = sum(not p.resolvable for p in preds.values())
    out["too_few_expected"] = float(sum(p.p_too_few for p in preds.values()))
    return out


def predict_rows(comps: dict[str, Components], design: Design, measured: Design) -> dict:
    return {k: predict(c, design, measured, M_TABLE[k.split("|")[0]]) for k, c in comps.items()}


def measured_rows(rows: list[Row]) -> dict[str, Prediction]:
    """The rows' own statistics (paired_difference), MDD at the book's Holm level."""
    out = {}
    for r in rows:
        p = paired_difference(r.a, r.b, ALPHA, clusters=r.clusters)
        at = mdd(p.se, ALPHA / M_TABLE[r.table], POWER, df=p.df)
        fields = (p.se, p.se_units, p.se_sensors, p.df, p.resolvable, at, float(not p.resolvable))
        out[r.key] = Prediction(*fields)
    return out


def candidates() -> list[Design]:
    """The measured design, and designs of 4 to 6 units, at 40 and 80 clips, 15 and 10 epochs."""
    shapes = [(3, 1), (4, 1), (5, 1), (6, 1), (3, 2), (2, 3), (2, 2)]
    return [Design(s, k, c, e) for e in (15, 10) for c in (80, 40) for s, k in shapes]


def candidates_table(comps, model: CostModel, today: Design) -> list[dict]:
    """Every candidate (and ``today``'s design, params/default.yml) predicted and costed;
    ``fits`` and ``recommended`` by ``RULE``, ``default`` marks today's."""
    out = []
    for d in candidates() + ([] if today in candidates() else [today]):
        s = summarise(predict_rows(comps, d, BASE))
        cost = model.seconds(d)
        fits = cost["total"] <= MARGIN * BUDGET_S and s["too_few"] == 0
        fits = fits and s["too_few_expected"] < 0.5  # none predicted, none expected by chance
        row = {"design": d.label, **asdict(d), "units": d.units, "summary": s, "cost": cost}
        out.append({**row, "cost_s": cost["total"], "fits": bool(fits), "default": d == today})
    ok = [r for r in out if r["fits"]]
    ok = [r for r in ok if r["epochs"] == BASE.epochs] or ok  # keep the training length
    if ok:
        min(ok, key=lambda r: r["summary"]["all"])["recommended"] = True
    return out


# --- validation and the report -------------------------------------------------------------


def _fmt_rows(title: str, pred: dict, meas: dict) -> list[str]:
    lines = [title, f"{'row':44s} {'se':>13s} {'se_units':>13s} {'se_sens':>13s} "
             f"{'df':>11s} {'MDD':>13s} {'too few':>9s}"]  # fmt: skip
    for k in meas:
        p, m = pred[k], meas[k]
        cells = [f"{getattr(p, f):6.4f}/{getattr(m, f):6.4f}" for f in ("se", "se_units")]
        cells += [f"{p.se_sensors:6.4f}/{m.se_sensors:6.4f}", f"{p.df:5.1f}/{m.df:5.1f}"]
        cells += [f"{p.mdd:6.4f}/{m.mdd:6.4f}", f"{int(not p.resolvable)}/{int(not m.resolvable)}"]
        lines.append(f"{k:44s} " + " ".join(f"{c:>13s}" for c in cells))
    return lines


def _ratios(pred: dict, meas: dict, f: str) -> dict:
    """predicted / measured of field ``f`` over the rows: geometric mean and range."""
    r = np.array([getattr(pred[k], f) / getattr(meas[k], f) for k in meas])
    return dict(geomean=float(np.exp(np.log(r).mean())), min=float(r.min()), max=float(r.max()))


def validate_worlds(w: dict[int, list[Row]]) -> dict:
    """The worlds cell's seeds 0–2 (the measured design, log-mel) predict its rows on more
    seeds (one split); beside each the measured rows on those seeds."""
    comps = {r.key: components(r.a, r.b, r.clusters) for r in w[3]}
    out: dict = {"components": {k: asdict(c) for k, c in comps.items()}}
    for n in sorted(w, reverse=True)[:-1]:
        pred, meas = predict_rows(comps, Design(n), BASE), measured_rows(w[n])
        title = f"\nvalidation: worlds cell (linear, log-mel), seeds 0-2 → seeds 0-{n - 1}"
        print("\n".join(_fmt_rows(title + ", predicted/measured", pred, meas)))
        summary: dict = {f: _ratios(pred, meas, f) for f in ("se", "se_sensors", "mdd")}
        for f, v in summary.items():
            print(f"  {f:10s} predicted/measured: geometric mean {v['geomean']:.3f} "
                  f"[{v['min']:.3f}, {v['max']:.3f}]")  # fmt: skip
        few = [sum(not x[k].resolvable for k in meas) for x in (pred, meas)]
        summary["too_few"] = dict(zip(("predicted", "measured"), few))
        print(f"  too few units: predicted {few[0]}, measured {few[1]} of {len(meas)}")
        rows = {k: {"predicted": asdict(pred[k]), "measured": asdict(meas[k])} for k in meas}
        out[f"{n} seeds"] = {"rows": rows, "summary": summary}
    return out


def validate_full(comps) -> dict:
    """The full profile's Table medians predicted from the measured design's (codec) parts,
    beside book-full.json (log-mel); and the same transferred to log-mel by the ratio of
    predicted full to predicted base, times book-default.json's measured medians."""
    full = json.loads((RESULTS / "book-full.json").read_text())["tables"]
    default = json.loads((RESULTS / "book-default.json").read_text())["tables"]
    cal = calibration(json.loads((RESULTS / "book-default.json").read_text()))
    pf, p0 = (summarise(predict_rows(comps, d, BASE)) for d in (FULL, cal))
    out = {}
    print(f"\nvalidation: full profile ({FULL.label}) predicted from the codec's parts; measured"
          f" (log-mel, book-full.json)\n{'table task':16s} {'pred':>7s} {'→log-mel':>8s} "
          f"{'measured':>8s}")  # fmt: skip
    for key in (f"{t} {task}" for t in M_TABLE for task in ("source", "sensor")):
        table, task = key.split()
        transfer = pf[key] / p0[key] * default[table]["mdd"][task]["median"]
        meas = full[table]["mdd"][task]["median"]
        out[key] = {"predicted": pf[key], "transferred_logmel": transfer, "measured": meas}
        print(f"{key:16s} {pf[key]:7.4f} {transfer:8.4f} {meas:8.4f}")
    return out


def validate_cost(model: CostModel) -> dict:
    """The cost model's default (exact by construction) and full builds beside the measured."""
    out = {**asdict(model), "epochs_10_share": model.epoch_share(10)}
    out.pop("epoch_seconds")
    print(
        f"\nvalidation: cost model (s, 2 cores)  predicted/measured default ({model.base.label}), full"
    )
    measured = {}
    for name, d in (("default", model.base), ("full", FULL)):
        rec = json.loads((RESULTS / f"book-{name}.json").read_text())
        build = rec["wall_s"] - sum(rec["chapters"].values())
        measured[name] = {**rec["chapters"], "build (not chapters)": build, "total": rec["wall_s"]}
        out[name] = model.seconds(d)
    out["measured"] = measured
    for ch in out["full"]:
        cells = [f"{out[n][ch]:7.1f}/{measured[n].get(ch, 0.0):7.1f}" for n in measured]
        print(f"  {ch:22s} " + "  ".join(cells))
    return out


def print_candidates(table: list[dict]) -> None:
    print(f"\n{'design':18s} {'T1 src':>6s} {'T1 sen':>6s} {'T2 src':>6s} {'T2 sen':>6s} "
          f"{'all':>6s} {'few':>3s} {'E[few]':>6s} {'cost s':>7s}  fits")  # fmt: skip
    for r in table:
        s = r["summary"]
        mark = "*" * r["fits"] + " <- recommended" * bool(r.get("recommended"))
        mark += " <- params/default.yml" * r["default"]
        print(
            f"{r['design']:18s} {s['table1 source']:6.3f} {s['table1 sensor']:6.3f} "
            f"{s['table2 source']:6.3f} {s['table2 sensor']:6.3f} {s['all']:6.3f} "
            f"{s['too_few']:3d} {s['too_few_expected']:6.1f} {r['cost_s']:7.0f}  {mark}"
        )


def default_design() -> tuple[Design, dict]:
    """params/default.yml's design, and its record (seeds, split seeds, clips, epochs)."""
    cfg = load_config("default")
    seeds, splits = list(cfg.sweep.seeds), list(cfg.sweep.split_seeds or ())
    d = Design(len(seeds), max(len(splits), 1), cfg.synth.clips_per_sensor, cfg.train.epochs)
    return d, {"design": d.label, "seeds": seeds, "split_seeds": splits, "clips": d.clips,
               "epochs": d.epochs}  # fmt: skip


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--codec-cache", required=True, help="cache of the codec's 3-seed sweep")
    ap.add_argument("--worlds-cache", help="cache of the worlds study (its first cell)")
    ap.add_argument("--write", action="store_true", help="write benchmarks/results/design.json")
    args = ap.parse_args(argv)
    rows, best = codec_rows(args.codec_cache)
    comps = {r.key: components(r.a, r.b, r.clusters) for r in rows}
    own, meas = predict_rows(comps, BASE, BASE), measured_rows(rows)
    print(f"codec sweep ({BASE.label}): {len(rows)} comparisons; multi-view row {best}")
    print("\n".join(_fmt_rows("\nsame design, predicted/measured (must agree)", own, meas)))
    report: dict = {"codec_rows": {k: asdict(c) for k, c in comps.items()}}
    w = worlds_rows(args.worlds_cache) if args.worlds_cache else None
    if w is None:
        print("\nworlds cell: not (yet) complete; no worlds validation")
    else:
        report["worlds"] = validate_worlds(w)
    report["validation_full"] = validate_full(comps)
    ch4 = json.loads((RESULTS / "book-codec.json").read_text())["chapters"]["04_ablations"]
    model = cost_model(Path(args.codec_cache) / "runs" / "codec", float(ch4))
    report["cost_model"] = validate_cost(model)
    today, report["default"] = default_design()
    table = candidates_table(comps, model, today)
    print_candidates(table)
    rec = next((r["design"] for r in table if r.get("recommended")), None)
    same = rec == today.label
    print(f"\nrule: {RULE}")
    print(f"recommended: {rec or 'none fits'}; params/default.yml: {today.label} "
          f"({'the same' if same else 'not the recommendation'})")  # fmt: skip
    report.update(candidates=table, rule=RULE, recommended=rec, caveats=CAVEATS)
    report["default_is_recommended"] = same
    if not args.write:
        return 0
    record = {
        "what": "Book designs: predicted power per CPU-second (benchmarks/design.py)",
        "command": "python benchmarks/design.py " + " ".join(argv or sys.argv[1:]),
        "commit": provenance.commit(),
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "machine": provenance.machine(),
        **{"alpha": ALPHA, "power": POWER, "holm_m": M_TABLE, "budget_s": BUDGET_S, **report},
    }
    path = RESULTS / "design.json"
    atomic_write_json(path, strict_json(record))
    print(f"written: {path}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
