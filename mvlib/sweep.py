"""The ablation sweep of Tables 1 and 2 (paper 4): one declaration, runs, aggregation.

Each (configuration, seed) is trained by executing ``book/03_train.ipynb`` through
papermill (the executed notebook is kept in the run folder as the record of the run),
then probed (:func:`mvlib.probe.probe_run`), which writes ``results.json``. A run whose
``results.json`` exists is skipped on a rerun; a failing run is reported and the others go
on. The frontend-only baseline ("DAC only" in the paper) needs no training: its probes run
on the store's features directly.
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
from mvlib.metrics import mean_ci, paired_test

log = logging.getLogger(__name__)

NOTEBOOK = Path(__file__).resolve().parents[1] / "book" / "03_train.ipynb"
RESULTS_FILE = "results.json"

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


def run_config(cfg: Config, entry: Entry, seed: int) -> Config:
    """The resolved config of one (entry, seed)."""
    return cfg.replace({**entry.overrides(), "train.seed": seed, "probe.seed": seed})


def run_dir_of(cfg: Config, entry: Entry, seed: int) -> Path:
    from mvlib.train import default_run_dir

    return default_run_dir(run_config(cfg, entry, seed))


def _execute(profile: str, entry: Entry, seed: int, run_dir: str, base_overrides: dict) -> dict:
    """Train one run through papermill, then probe it. Runs in a worker process."""
    import papermill as pm

    from mvlib.probe import probe_run

    run = Path(run_dir)
    run.mkdir(parents=True, exist_ok=True)
    params = {"profile": profile, "seed": seed, "run_dir": str(run), **entry.params}
    if "data.root" in base_overrides:
        params["data_root"] = base_overrides["data.root"]
    try:
        pm.execute_notebook(
            str(NOTEBOOK),
            str(run / "train.ipynb"),
            parameters=params,
            progress_bar=False,
            kernel_name="python3",
            cwd=str(NOTEBOOK.parent),
        )
        probe_run(run, progress=False)
        return {"name": entry.name, "seed": seed, "run_dir": str(run), "status": "done"}
    except Exception as e:  # a failed run is reported; the sweep goes on
        msg = "".join(traceback.format_exception_only(type(e), e)).strip()
        atomic_write_json(run / "failed.json", {"error": msg[-4000:]})
        return {
            "name": entry.name,
            "seed": seed,
            "run_dir": str(run),
            "status": "failed",
            "error": msg[-500:],
        }


def _check_run_config(run: Path, profile, entry: Entry, seed: int, base_overrides: dict) -> None:
    """The notebook's resolved config must be the sweep's: parameters and Entry must agree."""
    import yaml

    want = cfgmod.to_dict(run_config(cfgmod.load_config(profile, base_overrides), entry, seed))
    have = yaml.safe_load((run / "config.yaml").read_text())
    if have != want:
        diff = sorted(
            f"{s}.{k}"
            for s in want
            if isinstance(want[s], dict)
            for k in want[s]
            if have.get(s, {}).get(k) != want[s][k]
        )
        raise RuntimeError(
            f"{run}: 03_train.ipynb resolved another config than the sweep "
            f"declares for {entry.name!r} (differs in {diff})"
        )


def run_sweep(
    cfg: Config,
    entries: list[Entry] | None = None,
    seeds=None,
    workers: int | None = None,
    progress: bool = True,
    executor=_execute,
) -> pd.DataFrame:
    """Run every (entry, seed) not finished yet; return a status table.

    Parameters
    ----------
    cfg : Config
        The profile's config; each run applies its entry's overrides and seed to it.
    entries : list of Entry, optional (default: :func:`grid` of the profile's mask ratios)
    seeds : sequence of int, optional (default: ``cfg.sweep.seeds``)
    workers : int, optional (default: ``cfg.sweep.workers``); parallel processes
    executor : callable
        ``(profile, entry, seed, run_dir, overrides) -> status dict``; papermill by default.
    """
    entries = entries if entries is not None else grid(cfg.sweep.mask_ratios)
    seeds = list(seeds if seeds is not None else cfg.sweep.seeds)
    workers = workers or cfg.sweep.workers
    base = {"data.root": cfg.data.root} if cfg.data.root else {}
    status, todo = [], []
    for e in entries:
        for s in seeds:
            rd = run_dir_of(cfg, e, s)
            if (rd / RESULTS_FILE).exists():
                status.append(
                    {"name": e.name, "seed": s, "run_dir": str(rd), "status": "skipped (done)"}
                )
            else:
                todo.append((e, s, rd))
    bar = tqdm(total=len(todo), desc="sweep", disable=not progress, unit="run")
    if workers <= 1 or len(todo) <= 1:
        for e, s, rd in todo:
            status.append(executor(cfg.profile, e, s, str(rd), base))
            bar.update()
    else:
        # spawn, not fork: the parent may be a Jupyter kernel with torch threads running
        ctx = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(max_workers=workers, mp_context=ctx) as pool:
            futs = [pool.submit(executor, cfg.profile, e, s, str(rd), base) for e, s, rd in todo]
            for f in as_completed(futs):
                status.append(f.result())
                bar.update()
    bar.close()
    df = pd.DataFrame(status)
    failed = df[df["status"] == "failed"] if len(df) else df
    for r in failed.itertuples():
        log.error("run %s seed %s failed: %s", r.name, r.seed, r.error)
    return df


def frontend_dir(cfg: Config, seed: int) -> Path:
    """Results folder of the frontend-only baseline ("DAC only") for one probe seed."""
    return cache_dir("runs", cfg.profile, f"frontend-{cfg.features.frontend}-seed{seed}")


def frontend_results(cfg: Config, seeds=None, progress: bool = True) -> list[Path]:
    """Probe the frontend's own features (no training) once per seed; cached results."""
    from mvlib.probe import probe_frontend

    out = []
    for s in seeds if seeds is not None else cfg.sweep.seeds:
        c = cfg.replace({"probe.seed": s, "train.seed": s})
        d = frontend_dir(cfg, s)
        if not (d / RESULTS_FILE).exists():
            probe_frontend(c, d, progress=progress)
        out.append(d)
    return out


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
