"""The public API: the calls a researcher's own code makes, re-exported by ``mvlib``.

Each is a thin, documented entry to the layers below; the commands that do the same thing
(``mvlib train``, ``mvlib probe``, ``mvlib sweep``, ``mvlib embed``) call them::

    import mvlib

    cfg = mvlib.load_config("ci", {"train.epochs": 1})
    result = mvlib.train_run(cfg)             # dataset, store, then training (cached)
    metrics = mvlib.probe_run(result.run_dir)  # results.json of the run
    status = mvlib.run_sweep(cfg, only=["rec"], seeds=[0])
    encoder = mvlib.load_model(result.run_dir)   # the trained encoder, an nn.Module

The modules below this one never import it (``make lint`` checks the layers).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import pandas as pd

from mvlib import sweep as _sweep
from mvlib import workflow as _workflow
from mvlib.core.config import Config
from mvlib.core.registry import FRONTENDS, OBJECTIVES
from mvlib.embed import folders as _embed_folders
from mvlib.evaluate.probe.run import probe_trained_run
from mvlib.ml import distributed
from mvlib.ml.model import TrainedEncoder
from mvlib.ml.runlock import run_lock
from mvlib.ml.runs import TrainResult
from mvlib.ml.runs import load_encoder as _load_encoder
from mvlib.ml.train import train as _train
from mvlib.workflow import Prepared


def prepare(cfg: Config, *, progress: bool = True) -> Prepared:
    """Make (or load from the cache) what a run of ``cfg`` needs.

    Dataset (generated when ``data.source: synth`` and missing) → clip table →
    sensor-disjoint splits and pairs → latent store (extracted when missing). Every step
    is cached under ``$MVLIB_CACHE``; a second call only reads.

    Parameters
    ----------
    cfg : a resolved config (:func:`mvlib.load_config`)
    progress : show progress bars

    Returns
    -------
    Prepared
        ``root`` (dataset folder), ``clips`` (clip table), ``splits`` and ``store``.

    Examples
    --------
    >>> import mvlib
    >>> tiny = {"synth.n_sensors": 6, "synth.clips_per_sensor": 6}  # 36 synthetic clips
    >>> prep = mvlib.prepare(mvlib.load_config("ci", tiny), progress=False)
    >>> len(prep.clips), len(prep.store), prep.store.dim
    (36, 36, 128)
    """
    return _workflow.prepare(cfg, progress=progress)


def train_run(
    cfg: Config,
    *,
    run_dir: str | os.PathLike | None = None,
    resume: bool = True,
    wait: bool = True,
    progress: bool = True,
) -> TrainResult:
    """Train the model of ``cfg`` (``mvlib train``): :func:`prepare`, then training.

    A finished run is returned as it is; an unfinished one resumes from its last checkpoint.
    The run folder is locked while it is written: another process training the same run is
    waited for (``wait=True``) or named in a :class:`MvlibError` (``wait=False``).

    Parameters
    ----------
    cfg : a resolved config (:func:`mvlib.load_config`)
    run_dir : the run folder (default: ``<cache>/runs/<profile>/<run name>``)
    resume : continue an unfinished run in ``run_dir``
    wait : wait for another process that is training the same run, then reuse it
    progress : show progress bars

    Returns
    -------
    TrainResult
        ``run_dir``, ``best_epoch``, ``best_val``, ``epochs_run`` and the loss ``history``.

    Examples
    --------
    >>> import mvlib
    >>> tiny = {"synth.n_sensors": 6, "synth.clips_per_sensor": 6}  # 36 synthetic clips
    >>> cfg = mvlib.load_config("ci", {**tiny, "train.epochs": 1})
    >>> result = mvlib.train_run(cfg, progress=False)
    >>> result.epochs_run, (result.run_dir / "done.json").is_file()
    (1, True)
    """
    # under torchrun (`mvlib train`'s process group): rank 0 makes the dataset and store
    # first, the other ranks then find them cached; one rank shows their progress
    is_main = distributed.context().is_main
    prep = distributed.main_first(_workflow.prepare, cfg, progress=progress and is_main)
    return _train(
        cfg,
        prep.clips,
        prep.splits,
        prep.store,
        run_dir=run_dir,
        resume=resume,
        progress=progress,
        wait=wait,
    )


def probe_run(
    run_dir: str | os.PathLike, *, allow_unfinished: bool = False, progress: bool = True
) -> dict:
    """Probe a trained run's subspaces (``mvlib probe``); writes ``<run_dir>/results.json``.

    Frozen encoder, single view, time mean, then MLP probes of z_p, z_s and z_p ⊕ z_s on
    both tasks (paper 3.4). Waits for a process that is still writing the run.

    Parameters
    ----------
    run_dir : a run folder made by :func:`train_run` (or ``mvlib train``)
    allow_unfinished : probe a run that has not finished (the results then say so)
    progress : show progress bars

    Returns
    -------
    dict
        The contents of ``results.json``: every metric under ``summary``, the run's config,
        seed, frontend identity and git commit.

    Examples
    --------
    >>> import mvlib
    >>> results = mvlib.probe_run(result.run_dir, progress=False)  # result: from train_run
    >>> 0 <= results["summary"]["sensor_accuracy"] <= 1
    True
    """
    with run_lock(run_dir, wait=True, create=False):
        return probe_trained_run(run_dir, progress=progress, allow_unfinished=allow_unfinished)


def run_sweep(
    cfg: Config,
    *,
    only: Sequence[str] | None = None,
    seeds: Sequence[int] | None = None,
    workers: int | None = None,
    frontend: bool = True,
    papermill: bool = False,
    progress: bool = True,
) -> pd.DataFrame:
    """Train and probe the ablation grid of Tables 1 and 2 (``mvlib sweep``).

    Runs every (configuration, seed) not finished yet, in ``workers`` processes; finished
    runs are skipped, a failed run is reported in the table and the others go on.

    Parameters
    ----------
    cfg : a resolved config; each run applies its configuration's overrides and seed to it
    only : names of the grid's configurations to run (e.g. ``["rec", "rec + cos- sample"]``;
        default: all of them)
    seeds : training seeds (default: ``cfg.sweep.seeds``)
    workers : parallel processes (default: ``cfg.sweep.workers``)
    frontend : also probe the frontend-only baseline ("DAC only" in the paper)
    papermill : train each run by executing the book's chapter ``book/03_train.ipynb``
        (keeps the executed notebook in the run folder; slower; needs a checkout of mvlib)
    progress : show progress bars

    Returns
    -------
    pandas.DataFrame
        One row per run: ``name``, ``seed``, ``status`` (done, skipped, failed), ``run_dir``
        and ``error``. :func:`mvlib.sweep.collect` then reads their results.

    Examples
    --------
    >>> import mvlib
    >>> tiny = {"synth.n_sensors": 6, "synth.clips_per_sensor": 6}  # 36 synthetic clips
    >>> cfg = mvlib.load_config("ci", {**tiny, "train.epochs": 1})
    >>> status = mvlib.run_sweep(cfg, only=["rec"], seeds=[0], progress=False)
    >>> status[["name", "seed", "status"]].values.tolist()
    [['rec', 0, 'done']]
    """
    entries = _sweep.entries_of(cfg, only, papermill=papermill)
    if frontend:
        _sweep.frontend_results(cfg, seeds=seeds, progress=progress)
    executor = _sweep.execute_notebook if papermill else _sweep.execute
    return _sweep.run_plan(
        cfg, entries, seeds=seeds, workers=workers, progress=progress, executor=executor
    )


def embed_files(
    inputs: str | os.PathLike | Iterable[str | os.PathLike],
    run_dir: str | os.PathLike,
    out: str | os.PathLike | None = None,
    *,
    subspace: str = "both",
    granularity: str = "clip",
    fmt: str = "npy",
    checkpoint: str = "best",
    window_s: float | None = None,
    device: str = "cpu",
    progress: bool = True,
) -> Any:
    """Embed audio files, folders and globs with a trained run's encoder (``mvlib embed``).

    Any rate and channel count is read (resampled to the run's rate, downmixed to mono); a
    file that cannot be read is skipped and named in the report, never fatal.

    Parameters
    ----------
    inputs : audio files, folders (searched recursively) or glob patterns
    run_dir : a run folder made by :func:`train_run`
    out : output folder (new, or one made by mvlib embed), or None to only return arrays
    subspace : ``"z_p"``, ``"z_s"`` or ``"both"`` (z_p ⊕ z_s)
    granularity : ``"clip"`` (time mean per file), ``"frame"`` (per frame, with times) or
        ``"both"``
    fmt : ``"npy"`` (files per input) or ``"npz"`` (one ``embeddings.npz`` table)
    checkpoint : ``"best"`` or ``"last"``
    window_s : window length in seconds (default: the training clips')
    device : ``"cpu"``, ``"cuda"``, ``"cuda:N"`` or ``"auto"``
    progress : show a progress bar

    Returns
    -------
    EmbedReport
        ``results`` (per file: ``clip`` ``[D]``, ``frames`` ``[T x D]``, ``times``), ``failed``
        (the skipped inputs with their reasons) and ``summary()``.

    Examples
    --------
    >>> import mvlib
    >>> report = mvlib.embed_files(["a.wav", "b.wav"], result.run_dir, progress=False)
    >>> [r.clip.shape for r in report.results], report.failed
    ([(128,), (128,)], [])
    """
    if isinstance(inputs, (str, os.PathLike)):
        inputs = [inputs]
    return _embed_folders.embed_audio_files(
        [os.fspath(p) for p in inputs],  # as given: a failed input is named as the caller wrote it
        run_dir,
        out,
        subspace=subspace,
        granularity=granularity,
        fmt=fmt,
        which=checkpoint,
        window_s=window_s,
        device=device,
        progress=progress,
    )


def load_model(
    run_dir: str | os.PathLike,
    *,
    checkpoint: str = "best",
    subspace: str = "both",
    device: str = "cpu",
) -> TrainedEncoder:
    """The trained encoder of a run, as a ``torch.nn.Module`` (as ``dac.DAC.load`` loads DAC).

    The run's model is rebuilt from its checkpoint (safe loading: tensors only) and put in
    eval mode. It works on frontend frames, the features the run was trained on (log-mel
    frames or DAC latents; ``encoder.config.features`` names the frontend); for audio files
    use :func:`embed_files`, which applies the run's frontend first.

    Parameters
    ----------
    run_dir : a run folder made by :func:`train_run` (or ``mvlib train``), or one of its
        checkpoint files ``checkpoints/<name>.pt``
    checkpoint : ``"best"`` (lowest validation loss) or ``"last"``
    subspace : ``"z_p"``, ``"z_s"`` or ``"both"`` (z_p ⊕ z_s); models without the split
        (contrastive, supervised) have one embedding, returned whatever is asked
    device : ``"cpu"``, ``"cuda"``, ``"cuda:N"`` or ``"auto"``

    Returns
    -------
    TrainedEncoder
        ``encoder(x)`` maps frames ``Tensor[B x T x D_in]`` to embeddings
        ``Tensor[B x T x D]`` (``D_in = encoder.input_dim``, ``D = encoder.dim``); a clip's
        embedding is their time mean ``encoder(x).mean(dim=1)``, ``Tensor[B x D]``, the
        embedding the probes and ``mvlib embed`` use. ``encoder.model`` is the whole
        trained model, ``encoder.config`` the run's config. A folder without the checkpoint
        raises a one-line :class:`MvlibError`.

    Examples
    --------
    >>> import mvlib, torch
    >>> encoder = mvlib.load_model(result.run_dir)  # result: from train_run
    >>> x = torch.randn(2, 100, encoder.input_dim)  # 2 clips of 100 log-mel frames
    >>> with torch.inference_mode():
    ...     encoder(x).shape
    torch.Size([2, 100, 128])
    """
    return _load_encoder(run_dir, checkpoint, subspace=subspace, device=device)


def register_objective(name: str, obj: Callable | None = None) -> Any:
    """Register a training objective under ``name``, for ``objective.objective: <name>``.

    Use it as a decorator in your own module, and name that module under ``plugins:`` in
    the profile, so that every process (sweep workers, torchrun ranks, papermill) imports
    it before the config is checked. ``book/extending.md`` has a worked example.

    Parameters
    ----------
    name : the value of ``objective.objective`` that selects it
    obj : the objective function (omit to use as a decorator); see
        :mod:`mvlib.ml.losses` for its arguments and the dict of loss terms it returns

    Examples
    --------
    >>> import mvlib
    >>> @mvlib.register_objective("my_rec")
    ... def my_rec(out, x1, x2, cfg, gather):
    ...     ...
    >>> mvlib.load_config("ci", {"objective.objective": "my_rec"}).objective.objective
    'my_rec'
    """
    return OBJECTIVES.register(name, obj)


def register_frontend(name: str, obj: Callable | None = None) -> Any:
    """Register an audio frontend under ``name``, for ``features.frontend: <name>``.

    As :func:`register_objective`: in your own module, named under ``plugins:`` in the
    profile. ``book/extending.md`` says what a frontend provides.

    Parameters
    ----------
    name : the value of ``features.frontend`` that selects it
    obj : the frontend factory (omit to use as a decorator)

    Examples
    --------
    >>> import mvlib
    >>> @mvlib.register_frontend("my_codec")
    ... def my_codec(features_config):
    ...     ...
    >>> mvlib.load_config("ci", {"features.frontend": "my_codec"}).features.frontend
    'my_codec'
    """
    return FRONTENDS.register(name, obj)
