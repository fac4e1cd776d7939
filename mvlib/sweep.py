"""The ablation sweep of Tables 1 and 2 (paper 4): one declaration, runs, aggregation.

Each (configuration, seed) is trained by executing ``book/03_train.ipynb`` through
papermill (the executed notebook is kept in the run folder as the record of the run),
then probed (:func:`mvlib.probe.probe_run`), which writes ``results.json``. A run whose
``results.json`` exists is skipped on a rerun; a failing run is reported and the others go
on. The frontend-only baseline ("DAC only" in the paper) needs no training: its probes run
on the store's features directly.
"""

from __future__ import annotations

import logging
import multiprocessing
import traceback
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
from tqdm import tqdm

from mvlib import config as cfgmod
from mvlib.cache import atomic_write_json, cache_dir
from mvlib.config import Config

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
