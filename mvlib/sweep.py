"""The ablation sweep of Tables 1 and 2 (paper 4): one declaration, runs, aggregation.

Every (configuration, seed[, split seed]) is one run with its own resolved config. The sweep
saves that config in the run folder (``sweep-config.yaml``) and hands the worker its *path*,
never a profile name to re-resolve: the worker (:func:`execute`, in a spawned process)
trains with :func:`mvlib.ml.train.train` and probes with
:func:`mvlib.evaluate.probe.run.probe_trained_run`; :func:`execute_notebook` runs
``book/03_train.ipynb`` through papermill instead (``-p config <path>``) and keeps the
executed notebook. After each run the parent checks that the run's saved ``config.yaml`` is
exactly the config it declared. The dataset, splits and latent store are prepared once in
the parent before any worker starts. A run whose ``results.json`` exists (and whose config
checks) is skipped on a rerun; a failing run is reported and the others go on. The
frontend-only baseline ("DAC only" in the paper) needs no training: its probes run on the
store's features. Several sweeps may share one cache (a notebook and a terminal, a Slurm
array): each claims a run before it starts a worker for it (:func:`claim`), passes over the
runs the others have claimed, and waits for those at the end to reuse them.
"""

from __future__ import annotations

import contextlib
import json
import logging
import multiprocessing
import traceback
from collections.abc import Iterator
from concurrent import futures
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
from tqdm import tqdm

from mvlib import workflow
from mvlib.core import config as cfgmod
from mvlib.core import ownedlock
from mvlib.core.cache import atomic_write_json, cache_dir
from mvlib.core.config import Config
from mvlib.core.errors import MvlibError, format_error
from mvlib.core.resources import book_dir
from mvlib.core.runconfig import RunConfigMismatch, check_saved, load_resolved, save_resolved
from mvlib.data.splits.make import make_splits
from mvlib.embed.stored import run_embeddings
from mvlib.evaluate import disentangle
from mvlib.evaluate.probe.run import probe_frontend, probe_trained_run
from mvlib.ml.runlock import RunBusyError, run_lock
from mvlib.ml.runs import default_run_dir, shipped_weights_sha256
from mvlib.ml.train import train
from mvlib.report.results import collect_runs

log = logging.getLogger(__name__)

#: the chapter that ``sweep --papermill`` executes per run (in a checkout only)
NOTEBOOK_NAME = "03_train.ipynb"
RESULTS_FILE = "results.json"
#: the resolved config the sweep hands to a run (the run itself saves ``config.yaml``)
SWEEP_CONFIG = "sweep-config.yaml"


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


def entries_of(
    cfg: Config, only=None, *, papermill: bool = False, option: str = "only="
) -> list[Entry]:
    """The grid's entries a sweep of ``cfg`` runs: all of them, or those named in ``only``.

    Refuses, before any work, a name that is not in the grid (its culprit is ``option`` and
    the name: ``only='x'`` for :func:`mvlib.run_sweep`, ``--only 'x'`` for ``mvlib sweep``)
    and, with ``papermill``, an mvlib without the book's chapter (:func:`notebook_path`).
    """
    if papermill:
        notebook_path()  # one line if this mvlib has no book (an installed package)
    entries = grid(cfg.sweep.mask_ratios)
    if only is not None:
        names = [e.name for e in entries]
        unknown = [n for n in only if n not in names]
        if unknown:
            raise MvlibError(
                f"{option}{unknown[0]!r}", "no such configuration", f"use one of {names}"
            )
        entries = [e for e in entries if e.name in only]
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


def seeded(cfg: Config) -> Config:
    """``cfg`` with its probe and pair seeds set to ``train.seed``, as the sweep sets them.

    A run trained alone (chapter 3) with this config is the sweep's run of the same entry
    and seed (same config, same run folder), so the sweep reuses it instead of training
    it again.
    """
    s = cfg.train.seed
    return cfg.replace({"probe.seed": s, "split.pair_seed": s})


def run_dir_of(cfg: Config, entry: Entry, seed: int, split_seed: int | None = None) -> Path:
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
    key = cfgmod.config_hash({k: getattr(cfg, k) for k in ("data", "synth", "features")})
    if key not in _PREPARED:
        _PREPARED[key] = workflow.prepare(cfg, progress=False)
    return _PREPARED[key]


def execute(config_path: str, entry: Entry, seed: int, run_dir: str) -> dict:
    """Train and probe one run from its resolved config file, in this process.

    Several runs share a worker process (and its imports, clip table and store); the
    splits are made per run from the run's own ``split`` section.
    """
    run = Path(run_dir)
    try:
        cfg = load_resolved(config_path)
        prep = _prepared(cfg)
        splits = make_splits(prep.clips, cfg.split)
        train(cfg, prep.clips, splits, prep.store, run_dir=run, progress=False)
        check_saved(run, cfg)
        embedded = run_embeddings(run, clips=prep.clips)  # once, for the probes and the truth
        probe_trained_run(run, progress=False, run=embedded)
        ground_truth(run, cfg, embedded)
    except Exception as e:  # a failed run is reported; the sweep goes on
        return _failed(entry, seed, run, e)
    (run / "failed.json").unlink(missing_ok=True)
    return _status(entry, seed, run, "done")


def ground_truth(run: Path, cfg: Config, embedded=None) -> None:
    """Chapter 5's ground-truth scores of a multi-view run on our synthetic set, in the worker.

    Cached in the run (``ground_truth.json``), so that chapter 5 reads them instead of
    computing 27 of them one after another. Other data has no ground truth: nothing to do.
    """
    if cfg.model.method == "multiview" and disentangle.has_ground_truth(cfg):
        disentangle.run_truth(run, run=embedded)


def execute_notebook(config_path: str, entry: Entry, seed: int, run_dir: str) -> dict:
    """Train one run by executing ``03_train.ipynb`` (``-p config <path>``), then probe it.

    The executed notebook is kept as ``<run>/train.ipynb``. Costs papermill's start-up
    (a kernel, ~6 s) per run: worth it where the notebook is the record wanted.
    """
    import papermill as pm  # optional heavy dependency: papermill (the book's tools)

    run = Path(run_dir)
    try:
        notebook = notebook_path()
        pm.execute_notebook(
            str(notebook),
            str(run / "train.ipynb"),
            parameters={"config": str(config_path), "run_dir": str(run)},
            progress_bar=False,
            kernel_name="python3",
            cwd=str(notebook.parent),
        )
        want = load_resolved(config_path)
        check_saved(run, want)
        probe_trained_run(run, progress=False)
        ground_truth(run, want)
    except Exception as e:  # a failed run is reported; the sweep goes on
        return _failed(entry, seed, run, e)
    (run / "failed.json").unlink(missing_ok=True)
    return _status(entry, seed, run, "done")


def notebook_path() -> Path:
    """The chapter ``book/03_train.ipynb`` that ``sweep --papermill`` executes.

    Raises
    ------
    MvlibError
        when mvlib runs without its checkout (an installed wheel has no book).
    """
    book = book_dir()
    if book is None or not (book / NOTEBOOK_NAME).is_file():
        raise MvlibError(
            "mvlib sweep --papermill",
            f"needs the book's chapter book/{NOTEBOOK_NAME}, which only a checkout of the mvlib "
            "repository has (this mvlib is an installed package)",
            "run it from a checkout (git clone the repository, then pip install -e .), "
            "or drop --papermill: the sweep trains the same runs in-process",
        )
    return book / NOTEBOOK_NAME


#: a sweep's claim on a job, and its holder record (see :func:`claim`)
CLAIM_FILE, CLAIM_RECORD = "run.claim", "run.claim.json"

#: status of a run another process holds; :func:`run_plan` comes back to it at the end
BUSY = "busy"


def run_locked(executor, config_path: str, entry: Entry, seed: int, run_dir: str, wait: bool):
    """Run ``executor`` on one run while holding the run folder's lock.

    Several sweeps (a notebook and a terminal, a Slurm array) may share one cache: the run
    lock (:mod:`mvlib.ml.runlock`) lets one of them write a run folder. ``wait=False``
    returns status :data:`BUSY` at once when another process holds it; ``wait=True`` waits
    for it. A run that another process finished meanwhile (its ``results.json`` exists and
    its config checks) is skipped, as on a rerun.
    """
    run = Path(run_dir)
    try:
        with run_lock(run, wait=wait):
            if (run / RESULTS_FILE).exists():
                try:
                    check_saved(run, load_resolved(config_path))
                except MvlibError as err:
                    return _failed(entry, seed, run, err)
                return _status(entry, seed, run, "skipped (done by another process)")
            return executor(config_path, entry, seed, run_dir)
    except RunBusyError:
        return _status(entry, seed, run, BUSY)


def _check_run_config(run: Path, want: Config) -> None:
    """The run's saved config must be the one the sweep declared (raises RunConfigMismatch)."""
    check_saved(run, want)


def plan(cfg: Config, entries: list[Entry] | None = None, seeds=None) -> list[tuple]:
    """Every run of the sweep: ``(entry, seed, split_seed, run config, run dir)``."""
    entries = entries if entries is not None else grid(cfg.sweep.mask_ratios)
    seeds = list(seeds if seeds is not None else cfg.sweep.seeds)
    out = []
    for e in entries:
        for sp in split_seeds_of(cfg):
            for s in seeds:
                rc = run_config(cfg, e, s, sp)
                out.append((e, s, sp, rc, default_run_dir(rc)))
    return out


def run_plan(
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
        prep = workflow.prepare(cfg, progress=progress)
        for sp in {rc.split.seed for _e, _s, rc, _rd in todo}:  # the split seeds' splits check
            make_splits(prep.clips, cfg.replace({"split.seed": sp}).split)
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
    # runs that another process holds are passed over, and waited for after the others
    # (then reused): concurrent sweeps on one cache share the work instead of queueing.
    # The wait is in this process (no worker pool to start for runs others are writing);
    # a run whose holder died meanwhile is taken over and trained here.
    busy = []
    for st, job in _execute_all(executor, jobs, False, workers):
        if st.get("status") == BUSY:
            busy.append(job)
            continue
        status.append(finish(st, job[1], job[4]))
        bar.update()
    for st, job in _execute_all(executor, busy, True, 1):
        status.append(finish(st, job[1], job[4]))
        bar.update()
    bar.close()
    df = pd.DataFrame(status)
    failed = df[df["status"] == "failed"] if len(df) else df
    for r in failed.itertuples():
        log.error("run %s seed %s failed: %s", r.name, r.seed, r.error)
    return df


def raise_failed(status: pd.DataFrame, command: str) -> None:
    """One line naming the first failed run of a status table (:func:`run_plan`), if any.

    Raises
    ------
    MvlibError
        Culprit ``command``: how many runs failed, the first's name, seed and error, and
        where its ``failed.json`` is.
    """
    failed = status[status["status"] == "failed"]
    if len(failed):
        first = failed.iloc[0]
        raise MvlibError(
            command,
            f"{len(failed)} of {len(status)} runs failed (first: {first['name']} seed "
            f"{first['seed']}: {first['error']})",
            f"see failed.json in each run folder (e.g. {first['run_dir']}); fix and rerun: "
            "finished runs are skipped",
        )


def _execute_all(executor, jobs: list[tuple], wait: bool, workers: int):
    """Yield ``(status, job)`` of every job run under its run lock (see :func:`run_locked`).

    This process claims each job before it hands it on (:func:`claim`), so that sweeps
    sharing a cache pass over each other's jobs at once, before starting a worker for
    them; a job another sweep has claimed is :data:`BUSY` (``wait=False``) or waited for.
    At most ``workers`` jobs are in flight, each in a worker process started on demand,
    which takes the run's lock itself: one writer per run folder holds even when this
    process dies while its worker trains.
    """
    if workers <= 1 or len(jobs) <= 1:
        for job in jobs:
            path, e, s, rd, _rc = job
            try:
                with claim(rd, wait):
                    st = run_locked(executor, path, e, s, rd, wait)
            except RunBusyError:
                st = _status(e, s, Path(rd), BUSY)
            yield st, job
        return
    pending, in_flight = list(jobs), {}
    # spawn, not fork: the parent may be a Jupyter kernel with torch threads running
    ctx = multiprocessing.get_context("spawn")
    with contextlib.ExitStack() as stack:
        pool = None
        while pending or in_flight:
            while pending and len(in_flight) < workers:
                job = pending.pop(0)
                path, e, s, rd, _rc = job
                held = contextlib.ExitStack()
                try:
                    held.enter_context(claim(rd, wait))
                except RunBusyError:
                    yield _status(e, s, Path(rd), BUSY), job
                    continue
                if pool is None:  # workers start with the first job this sweep claims
                    pool = stack.enter_context(
                        ProcessPoolExecutor(max_workers=workers, mp_context=ctx)
                    )
                in_flight[pool.submit(run_locked, executor, path, e, s, rd, wait)] = job, held
            if not in_flight:
                break
            done, _ = futures.wait(in_flight, return_when=futures.FIRST_COMPLETED)
            for f in done:
                job, held = in_flight.pop(f)
                held.close()
                yield f.result(), job


@contextlib.contextmanager
def claim(run_dir, wait: bool) -> Iterator[None]:
    """This sweep's claim on a job (``<run>/run.claim``), held while the job is in flight.

    It only schedules: sweeps skip the jobs others have claimed instead of starting a
    worker that would find the run locked. What keeps one writer per run folder is the
    run lock (:mod:`mvlib.ml.runlock`), which the process that trains takes itself.

    Raises
    ------
    RunBusyError
        Another sweep holds the claim (and ``wait`` is False).
    """
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    with contextlib.ExitStack() as stack:
        try:
            stack.enter_context(
                ownedlock.owned_lock(
                    run_dir / CLAIM_FILE,
                    run_dir / CLAIM_RECORD,
                    wait=wait,
                    on_wait=lambda info: log.warning(
                        "%s: another sweep (%s) has claimed this run; waiting for it",
                        run_dir,
                        ownedlock.describe(info),
                    ),
                )
            )
        except ownedlock.LockBusy as busy:
            raise RunBusyError(
                run_dir,
                f"another sweep ({ownedlock.describe(busy.holder)}) has claimed this run",
                "wait for it to finish and run again (a finished run is reused)",
                holder=busy.holder,
            ) from None
        yield


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
    what = {k: getattr(c, k) for k in ("data", "synth", "split", "features", "probe")}
    sha = shipped_weights_sha256(c)  # a shipped codec is named: its file's hash too
    key = cfgmod.config_hash(what if sha is None else {**what, "weights": sha}, 8)
    # made by whoever probes it (its run lock), not by asking where it is (collect)
    return cache_dir("runs", cfg.profile) / f"frontend-{cfg.features.frontend}-seed{seed}-{key}"


def frontend_results(cfg: Config, seeds=None, progress: bool = True) -> list[Path]:
    """Probe the frontend's own features (no training) once per seed; cached results.

    Cached results are reused only when the config they saved is this one.
    """
    todo = [
        (frontend_config(cfg, s, sp), frontend_dir(cfg, s, sp))
        for sp in split_seeds_of(cfg)
        for s in (seeds if seeds is not None else cfg.sweep.seeds)
    ]
    # one writer per baseline; one that another sweep is probing is passed over and
    # waited for at the end (then its results are reused), as run_plan does with runs
    busy = []
    for c, d in todo:
        try:
            _probe_frontend_once(c, d, wait=False, progress=progress)
        except RunBusyError:
            busy.append((c, d))
    for c, d in busy:
        _probe_frontend_once(c, d, wait=True, progress=progress)
    return [d for _c, d in todo]


def _probe_frontend_once(c: Config, d: Path, wait: bool, progress: bool) -> None:
    """Probe the frontend-only baseline ``c`` into ``d`` unless it holds ``c``'s results."""
    f = d / RESULTS_FILE
    with run_lock(d, wait=wait):
        if not (f.exists() and json.loads(f.read_text()).get("config") == cfgmod.to_dict(c)):
            prep = _prepared(c)  # the clips and store it probes
            probe_frontend(c, d, prep.clips, prep.store, progress=progress)


def collect(cfg: Config, entries: list[Entry] | None = None, seeds=None) -> pd.DataFrame:
    """The results frame of every finished run of the grid plus the frontend-only baseline.

    One row per probed run, labelled with its configuration and group
    (:func:`mvlib.report.results.collect_runs`); runs not finished yet are left out.
    """
    runs = [(e.name, e.group, s, sp, rd) for e, s, sp, _, rd in plan(cfg, entries, seeds)]
    seeds_run = sorted({s for _, _, s, _, _ in runs})
    for sp in split_seeds_of(cfg):
        for s in seeds_run:
            runs.append(("frontend only", "baseline", s, sp, frontend_dir(cfg, s, sp)))
    return collect_runs(runs)
