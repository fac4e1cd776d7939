"""The ablation sweep of Tables 1 and 2 (paper 4): one declaration, runs, aggregation.

Every (configuration, seed[, split seed]) is one run with its own resolved config. The
sweep saves that config in the run folder (``sweep-config.yaml``) and hands the worker
its *path*, never a profile name to re-resolve: the worker (:func:`execute`, in a spawned
process) trains with :func:`mvlib.train.train` and probes with
:func:`mvlib.probe.probe_run`; :func:`execute_notebook` runs ``book/03_train.ipynb``
through papermill instead (``-p config <path>``) and keeps the executed notebook. After
each run the parent checks that the run's saved ``config.yaml`` is exactly the config it
declared. The dataset, splits and latent store are prepared once in the parent before any
worker starts. A run whose ``results.json`` exists (and whose config checks) is skipped
on a rerun; a failing run is reported and the others go on. The frontend-only baseline
("DAC only" in the paper) needs no training: its probes run on the store's features.
"""

from __future__ import annotations

import json
import logging
import multiprocessing
import traceback
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm import tqdm

from mvlib import config as cfgmod
from mvlib.cache import atomic_write_json, cache_dir
from mvlib.config import Config
from mvlib.errors import MvlibError, format_error
from mvlib.metrics import mean_ci, paired_test
from mvlib.runconfig import RunConfigMismatch, check_saved, load_resolved, save_resolved

log = logging.getLogger(__name__)

NOTEBOOK = Path(__file__).resolve().parents[1] / "book" / "03_train.ipynb"
RESULTS_FILE = "results.json"
#: the resolved config the sweep hands to a run (the run itself saves ``config.yaml``)
SWEEP_CONFIG = "sweep-config.yaml"

#: The paper's own numbers (real SONYC-UST-V2, pretrained DAC 44.1 kHz 8 kbps): Table 1 and 2.
PAPER_TABLE1 = {
    "multiview (best)": (0.633, 0.735),
    "singleview AE": (0.582, 0.710),
    "contrastive (InfoNCE)": (0.324, 0.392),
    "frontend only": (0.583, 0.684),
    "supervised": (0.699, 0.732),
}
PAPER_TABLE2 = {
    "rec": (0.610, 0.739),
    "rec + cos- sample": (0.633, 0.735),
    "rec + cos- batch": (0.610, 0.737),
    "rec + cos+ sample": (0.593, 0.719),
    "rec + cos+ batch": (0.603, 0.728),
    "rec + mask z_p r=0.4": (0.594, 0.733),
}


@dataclass(frozen=True)
class Entry:
    """One trained configuration of the grid.

    ``group`` is the strategy family of Figure 2 (rec, cos, mask) or "baseline".
    ``params`` are the papermill parameters of ``03_train.ipynb``.
    """

    name: str
    group: str
    params: dict = field(default_factory=dict)

    def overrides(self) -> dict:
        """Config overrides equivalent to the notebook parameters."""
        p = {
            "method": "multiview",
            "objective": "rec",
            "level": "sample",
            "mask_ratio": 0.4,
            "supervised_task": "source",
            **self.params,
        }
        return {
            "model.method": p["method"],
            "model.supervised_task": p["supervised_task"],
            "objective.objective": p["objective"],
            "objective.level": p["level"],
            "objective.mask_ratio": float(p["mask_ratio"]),
        }


def grid(mask_ratios=(0.2, 0.4, 0.6, 0.8)) -> list[Entry]:
    """Every configuration of Tables 1 and 2 (the multi-view best config is cos- sample)."""
    entries = [Entry("rec", "rec", {})]
    for obj, sign in (("cos_minus", "-"), ("cos_plus", "+")):
        for level in ("sample", "batch"):
            entries.append(
                Entry(f"rec + cos{sign} {level}", "cos", {"objective": obj, "level": level})
            )
    for r in mask_ratios:
        entries.append(
            Entry(f"rec + mask z_p r={r:g}", "mask", {"objective": "mask", "mask_ratio": r})
        )
    entries += [
        Entry("singleview AE", "baseline", {"method": "singleview"}),
        Entry("contrastive (InfoNCE)", "baseline", {"method": "contrastive"}),
        Entry(
            "supervised source", "baseline", {"method": "supervised", "supervised_task": "source"}
        ),
        Entry(
            "supervised sensor", "baseline", {"method": "supervised", "supervised_task": "sensor"}
        ),
    ]
    return entries


def run_config(cfg: Config, entry: Entry, seed: int, split_seed: int | None = None) -> Config:
    """The resolved config of one (entry, seed[, split seed]).

    The seed sets initialisation (``train.seed``), the probes' seed and the view pairs
    (``split.pair_seed``); ``split_seed`` (None: the profile's) sets the sensor split and
    the downstream partition.
    """
    over = {**entry.overrides(), "train.seed": seed, "probe.seed": seed, "split.pair_seed": seed}
    if split_seed is not None:
        over["split.seed"] = split_seed
    return cfg.replace(over)


def run_dir_of(cfg: Config, entry: Entry, seed: int, split_seed: int | None = None) -> Path:
    from mvlib.train import default_run_dir

    return default_run_dir(run_config(cfg, entry, seed, split_seed))


def split_seeds_of(cfg: Config) -> list:
    """The split-seed axis: ``sweep.split_seeds``, or [None] (the profile's split.seed)."""
    return list(cfg.sweep.split_seeds) or [None]


def _status(entry: Entry, seed: int, run: Path, status: str, error: str | None = None) -> dict:
    out = {"name": entry.name, "seed": seed, "run_dir": str(run), "status": status}
    if error is not None:
        out["error"] = error
    return out


def _failed(entry: Entry, seed: int, run: Path, err: BaseException) -> dict:
    msg = format_error(err)
    if not isinstance(err, RunConfigMismatch):
        tb = "".join(traceback.format_exception(type(err), err, err.__traceback__))
        log.debug("run %s seed %s:\n%s", entry.name, seed, tb)
    atomic_write_json(Path(run) / "failed.json", {"error": msg[-4000:]})
    return _status(entry, seed, run, "failed", msg[-500:])


#: per worker process: dataset, clip table and store, keyed by what made them
_PREPARED: dict = {}


def _prepared(cfg: Config):
    """Dataset, clip table and latent store of ``cfg`` (made once per process; cached)."""
    from mvlib import workflow

    key = cfgmod.config_hash({k: getattr(cfg, k) for k in ("data", "synth", "features")})
    if key not in _PREPARED:
        _PREPARED[key] = workflow.prepare(cfg, progress=False)
    return _PREPARED[key]


def execute(config_path: str, entry: Entry, seed: int, run_dir: str) -> dict:
    """Train and probe one run from its resolved config file, in this process.

    Several runs share a worker process (and its imports, clip table and store); the
    splits are made per run from the run's own ``split`` section.
    """
    from mvlib.pairing import make_splits
    from mvlib.probe import probe_run
    from mvlib.train import train

    run = Path(run_dir)
    try:
        cfg = load_resolved(config_path)
        prep = _prepared(cfg)
        splits = make_splits(prep.clips, cfg.split)
        train(cfg, prep.clips, splits, prep.store, run_dir=run, progress=False)
        check_saved(run, cfg)
        probe_run(run, progress=False)
    except Exception as e:  # a failed run is reported; the sweep goes on
        return _failed(entry, seed, run, e)
    (run / "failed.json").unlink(missing_ok=True)
    return _status(entry, seed, run, "done")


def execute_notebook(config_path: str, entry: Entry, seed: int, run_dir: str) -> dict:
    """Train one run by executing ``03_train.ipynb`` (``-p config <path>``), then probe it.

    The executed notebook is kept as ``<run>/train.ipynb``. Costs papermill's start-up
    (a kernel, ~6 s) per run: worth it where the notebook is the record wanted.
    """
    import papermill as pm

    from mvlib.probe import probe_run

    run = Path(run_dir)
    try:
        pm.execute_notebook(
            str(NOTEBOOK),
            str(run / "train.ipynb"),
            parameters={"config": str(config_path), "run_dir": str(run)},
            progress_bar=False,
            kernel_name="python3",
            cwd=str(NOTEBOOK.parent),
        )
        check_saved(run, load_resolved(config_path))
        probe_run(run, progress=False)
    except Exception as e:  # a failed run is reported; the sweep goes on
        return _failed(entry, seed, run, e)
    (run / "failed.json").unlink(missing_ok=True)
    return _status(entry, seed, run, "done")


def _check_run_config(run: Path, want: Config) -> None:
    """The run's saved config must be the one the sweep declared (raises RunConfigMismatch)."""
    check_saved(run, want)


def plan(cfg: Config, entries: list[Entry] | None = None, seeds=None) -> list[tuple]:
    """Every run of the sweep: ``(entry, seed, split_seed, run config, run dir)``."""
    from mvlib.train import default_run_dir

    entries = entries if entries is not None else grid(cfg.sweep.mask_ratios)
    seeds = list(seeds if seeds is not None else cfg.sweep.seeds)
    out = []
    for e in entries:
        for sp in split_seeds_of(cfg):
            for s in seeds:
                rc = run_config(cfg, e, s, sp)
                out.append((e, s, sp, rc, default_run_dir(rc)))
    return out


def run_sweep(
    cfg: Config,
    entries: list[Entry] | None = None,
    seeds=None,
    workers: int | None = None,
    progress: bool = True,
    executor=execute,
    prepare: bool = True,
) -> pd.DataFrame:
    """Run every (entry, seed[, split seed]) not finished yet; return a status table.

    Parameters
    ----------
    cfg : Config
        The resolved config; each run applies its entry's overrides and seeds to it.
    entries : list of Entry, optional (default: :func:`grid` of the profile's mask ratios)
    seeds : sequence of int, optional (default: ``cfg.sweep.seeds``)
    workers : int, optional (default: ``cfg.sweep.workers``); parallel processes
    executor : callable
        ``(config_path, entry, seed, run_dir) -> status dict``, run in a worker process:
        :func:`execute` (default: train and probe in the worker) or
        :func:`execute_notebook` (papermill).
    prepare : bool
        Make the dataset, splits and latent store in this process before any worker
        starts, so that workers only read them.

    Every run finished with status "done" has its saved ``config.yaml`` checked against
    the config the sweep declared; a mismatch turns it into a failed run.
    """
    workers = workers or cfg.sweep.workers
    status, todo = [], []
    for e, s, _sp, rc, rd in plan(cfg, entries, seeds):
        if (rd / RESULTS_FILE).exists():
            try:
                check_saved(rd, rc)
                status.append(_status(e, s, rd, "skipped (done)"))
                continue
            except MvlibError as err:  # another config, or none readable
                status.append(_failed(e, s, rd, err))
                continue
        todo.append((e, s, rc, rd))
    if todo and prepare:
        from mvlib import pairing, workflow

        prep = workflow.prepare(cfg, progress=progress)
        for sp in {rc.split.seed for _e, _s, rc, _rd in todo}:  # the split seeds' splits check
            pairing.make_splits(prep.clips, cfg.replace({"split.seed": sp}).split)
    jobs = []
    for e, s, rc, rd in todo:
        rd.mkdir(parents=True, exist_ok=True)
        jobs.append((str(save_resolved(rc, rd / SWEEP_CONFIG)), e, s, str(rd), rc))

    def finish(st: dict, e: Entry, rc: Config) -> dict:
        if st.get("status") == "done":  # what ran must be what was declared
            try:
                _check_run_config(Path(st["run_dir"]), rc)
            except MvlibError as err:  # another config, or none readable
                return _failed(e, st["seed"], Path(st["run_dir"]), err)
        return st

    bar = tqdm(total=len(jobs), desc="sweep", disable=not progress, unit="run")
    if workers <= 1 or len(jobs) <= 1:
        for path, e, s, rd, rc in jobs:
            status.append(finish(executor(path, e, s, rd), e, rc))
            bar.update()
    else:
        # spawn, not fork: the parent may be a Jupyter kernel with torch threads running
        ctx = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(max_workers=workers, mp_context=ctx) as pool:
            futs = {pool.submit(executor, path, e, s, rd): (e, rc) for path, e, s, rd, rc in jobs}
            for f in as_completed(futs):
                status.append(finish(f.result(), *futs[f]))
                bar.update()
    bar.close()
    df = pd.DataFrame(status)
    failed = df[df["status"] == "failed"] if len(df) else df
    for r in failed.itertuples():
        log.error("run %s seed %s failed: %s", r.name, r.seed, r.error)
    return df


def frontend_config(cfg: Config, seed: int, split_seed: int | None = None) -> Config:
    """The config of the frontend-only baseline for one probe seed (and split seed)."""
    over = {"probe.seed": seed, "train.seed": seed}
    if split_seed is not None:
        over["split.seed"] = split_seed
    return cfg.replace(over)


def frontend_dir(cfg: Config, seed: int, split_seed: int | None = None) -> Path:
    """Results folder of the frontend-only baseline ("DAC only") for one probe seed.

    Named by a hash of everything its results depend on (data, synthesis, splits,
    features, probes), so that results of another config are never reused.
    """
    c = frontend_config(cfg, seed, split_seed)
    key = cfgmod.config_hash(
        {k: getattr(c, k) for k in ("data", "synth", "split", "features", "probe")}, 8
    )
    return cache_dir("runs", cfg.profile, f"frontend-{cfg.features.frontend}-seed{seed}-{key}")


def frontend_results(cfg: Config, seeds=None, progress: bool = True) -> list[Path]:
    """Probe the frontend's own features (no training) once per seed; cached results.

    Cached results are reused only when the config they saved is this one.
    """
    from mvlib.probe import probe_frontend

    out = []
    for sp in split_seeds_of(cfg):
        for s in seeds if seeds is not None else cfg.sweep.seeds:
            c = frontend_config(cfg, s, sp)
            d = frontend_dir(cfg, s, sp)
            f = d / RESULTS_FILE
            if not (f.exists() and json.loads(f.read_text()).get("config") == cfgmod.to_dict(c)):
                probe_frontend(c, d, progress=progress)
            out.append(d)
    return out


def best_on_validation(cfg: Config, entries: list[Entry] | None = None, seeds=None) -> str | None:
    """The multi-view configuration to report as "best": chosen on validation, never test.

    Each finished run's probes on ``z_p ⊕ z_s`` were selected on the downstream validation
    partition; their validation scores (source and sensor, averaged) are averaged over
    seeds, and the multi-view entry with the highest mean wins. None when no run finished.
    """
    entries = entries if entries is not None else grid(cfg.sweep.mask_ratios)
    seeds = list(seeds if seeds is not None else cfg.sweep.seeds)
    means = {}
    for e in entries:
        if e.overrides()["model.method"] != "multiview":
            continue
        scores = []
        for s in seeds:
            f = run_dir_of(cfg, e, s) / RESULTS_FILE
            if f.exists():
                m = json.loads(f.read_text())["metrics"]["joint"]
                scores.append((m["source"]["val_score"] + m["sensor"]["val_score"]) / 2)
        if scores:
            means[e.name] = float(np.mean(scores))
    return max(means, key=means.get) if means else None


# --------------------------------------------------------------------------- aggregation


def load_results(paths) -> pd.DataFrame:
    """One row per run: name, group, seed, frontend, data, weights, and every metric."""
    rows = []
    for p in paths:
        f = Path(p) / RESULTS_FILE
        if not f.exists():
            continue
        res = json.loads(f.read_text())
        rows.append({**res["summary"], "run_dir": str(p)})
    return pd.DataFrame(rows)


def collect(cfg: Config, entries: list[Entry] | None = None, seeds=None) -> pd.DataFrame:
    """Results of every finished run of the grid plus the frontend-only baseline."""
    entries = entries if entries is not None else grid(cfg.sweep.mask_ratios)
    seeds = list(seeds if seeds is not None else cfg.sweep.seeds)
    paths = [run_dir_of(cfg, e, s) for e in entries for s in seeds]
    paths += [frontend_dir(cfg, s) for s in seeds]
    df = load_results(paths)
    if len(df):
        name = {str(run_dir_of(cfg, e, s)): (e.name, e.group) for e in entries for s in seeds}
        df["config"] = [name.get(r, ("frontend only", "baseline"))[0] for r in df["run_dir"]]
        df["group"] = [name.get(r, ("frontend only", "baseline"))[1] for r in df["run_dir"]]
    return df


def _cell(values) -> str:
    m, h = mean_ci(values)
    return f"{m:.3f} ± {h:.3f}" if np.isfinite(h) else f"{m:.3f}"


def summarise(
    df: pd.DataFrame,
    rows: dict[str, tuple[str, str]],
    reference: str | None = None,
    paper: dict | None = None,
) -> pd.DataFrame:
    """A table: each row a configuration, each cell mean ± 95% CI over seeds.

    Parameters
    ----------
    df : DataFrame from :func:`collect` (one frontend only)
    rows : label -> (config name for source, config name for sensor)
    reference : label of the row the others are compared with (paired t-test over seeds)
    paper : label -> (source, sensor) numbers of the paper, shown beside ours
    """
    frontends = df["frontend"].unique() if len(df) else []
    assert len(frontends) <= 1, f"results mix frontends {list(frontends)}: filter by frontend first"
    out = []
    for label, (src_cfg, sen_cfg) in rows.items():
        s = df[df.config == src_cfg].sort_values("seed")
        t = df[df.config == sen_cfg].sort_values("seed")
        if s.empty and t.empty:
            continue
        row = {"configuration": label, "seeds": int(max(len(s), len(t)))}
        row["source Jaccard"] = _cell(s["source_jaccard"]) if len(s) else ""
        row["sensor accuracy"] = _cell(t["sensor_accuracy"]) if len(t) else ""
        both = pd.merge(s[["seed", "source_jaccard"]], t[["seed", "sensor_accuracy"]], on="seed")
        row["avg"] = _cell((both.source_jaccard + both.sensor_accuracy) / 2) if len(both) else ""
        if reference and label == reference:
            row["Δ source (p)"] = row["Δ sensor (p)"] = "reference"
        elif reference and reference in rows:
            ref_s = df[df.config == rows[reference][0]].set_index("seed")["source_jaccard"]
            ref_t = df[df.config == rows[reference][1]].set_index("seed")["sensor_accuracy"]
            for col, mine, ref in (
                ("Δ source (p)", s.set_index("seed")["source_jaccard"], ref_s),
                ("Δ sensor (p)", t.set_index("seed")["sensor_accuracy"], ref_t),
            ):
                common = mine.index.intersection(ref.index)
                test = paired_test(mine[common].to_numpy(), ref[common].to_numpy())
                row[col] = f"{test['mean_diff']:+.3f} ({test['p']:.2f})" if len(common) else ""
        if paper and label in paper:
            row["paper source"], row["paper sensor"] = paper[label]
        out.append(row)
    return pd.DataFrame(out).set_index("configuration") if out else pd.DataFrame()


def table1(df: pd.DataFrame, mask_label: str = "rec + cos- sample") -> pd.DataFrame:
    """Table 1: the best multi-view configuration against the baselines."""
    rows = {
        "multiview (best)": (mask_label, mask_label),
        "singleview AE": ("singleview AE", "singleview AE"),
        "contrastive (InfoNCE)": ("contrastive (InfoNCE)", "contrastive (InfoNCE)"),
        "frontend only": ("frontend only", "frontend only"),
        "supervised": ("supervised source", "supervised sensor"),
    }
    return summarise(df, rows, reference="singleview AE", paper=PAPER_TABLE1)


def table2(df: pd.DataFrame, mask_ratios=(0.2, 0.4, 0.6, 0.8)) -> pd.DataFrame:
    """Table 2: objectives on the multi-view backbone, compared with rec alone."""
    names = ["rec"] + [f"rec + cos{s} {lv}" for s in "-+" for lv in ("sample", "batch")]
    names += [f"rec + mask z_p r={r:g}" for r in mask_ratios]
    return summarise(df, {n: (n, n) for n in names}, reference="rec", paper=PAPER_TABLE2)


def provenance_of(df: pd.DataFrame) -> pd.DataFrame:
    """Which data, frontend and weights made the results (one row per distinct combination)."""
    cols = [c for c in ("data", "frontend", "weights", "profile") if c in df]
    return df[cols].drop_duplicates().reset_index(drop=True)


def _mean(df: pd.DataFrame, config: str, col: str) -> float:
    v = df.loc[df["config"] == config, col]
    return float(v.mean()) if len(v) else float("nan")


def _claim(text: str, holds: bool | None, p: float = float("nan")) -> str:
    if holds is None:
        return f"* {text} — **not measured**."
    verdict = "holds here" if holds else "does not hold here"
    if np.isfinite(p):
        verdict += f" ({'significant' if p < 0.05 else 'in direction only'}, paired p = {p:.2f})"
    return f"* {text} — **{verdict}**."


def _paired_avg(df: pd.DataFrame, a: str, b: str) -> float:
    """Paired t-test p-value over seeds of the two tasks' average score, config a vs b."""

    def per_seed(c):
        d = df[df["config"] == c].set_index("seed")
        return (d["source_jaccard"] + d["sensor_accuracy"]) / 2

    x, y = per_seed(a), per_seed(b)
    common = x.index.intersection(y.index)
    return (
        paired_test(x[common].to_numpy(), y[common].to_numpy())["p"]
        if len(common)
        else float("nan")
    )


def reading(df: pd.DataFrame) -> str:
    """The paper's main claims (section 4.1), each checked against these results."""

    def avg(c):
        return (_mean(df, c, "source_jaccard") + _mean(df, c, "sensor_accuracy")) / 2

    def known(*vals):
        return all(np.isfinite(v) for v in vals)

    best, sv, fe = "rec + cos- sample", "singleview AE", "frontend only"
    cl = "contrastive (InfoNCE)"
    lines = []
    a, b = _mean(df, best, "source_jaccard"), _mean(df, sv, "source_jaccard")
    c, d = _mean(df, best, "sensor_accuracy"), _mean(df, sv, "sensor_accuracy")
    lines.append(
        _claim(
            f"The multi-view model with sample-level cos− beats the single-view autoencoder on both "
            f"tasks (here {a:.3f} vs {b:.3f} source, {c:.3f} vs {d:.3f} sensor)",
            (a > b and c > d) if known(a, b, c, d) else None,
            _paired_avg(df, best, sv),
        )
    )
    e, f = avg(best), avg(fe)
    lines.append(
        _claim(
            f"It beats the frontend features alone on average ({e:.3f} vs {f:.3f})",
            e > f if known(e, f) else None,
            _paired_avg(df, best, fe),
        )
    )
    others = [avg(x) for x in (best, sv, fe)]
    g = avg(cl)
    lines.append(
        _claim(
            f"InfoNCE on same-sensor pairs is the weakest method ({g:.3f} on average)",
            g < min(others) if known(g, *others) else None,
        )
    )
    minus = np.nanmean([avg(f"rec + cos- {lv}") for lv in ("sample", "batch")])
    plus = np.nanmean([avg(f"rec + cos+ {lv}") for lv in ("sample", "batch")])
    lines.append(
        _claim(
            f"Separation (cos−) beats similarity (cos+) objectives on average "
            f"({minus:.3f} vs {plus:.3f})",
            minus > plus if known(minus, plus) else None,
        )
    )
    objectives = [n for n in df["config"].unique() if n.startswith("rec")]
    if objectives:
        top = max(objectives, key=avg)
        lines.append(
            f"* Best multi-view objective here by average score: **{top}** "
            f"({avg(top):.3f}); the paper's is rec + cos− sample."
        )
    return "\n".join(lines)
