"""Probing as a step: a trained run folder, or the frontend-only baseline, to its results.

:func:`probe_trained_run` checks the run (:mod:`~mvlib.evaluate.probe.runcheck`), embeds its
held-out sensors' downstream clips with the frozen encoder, fits and scores the probes
(:mod:`~mvlib.evaluate.probe.fit`) and writes the result files
(:mod:`~mvlib.evaluate.probe.results`). :func:`probe_frontend` does the same for the
frontend's own features, from the clips and store that its caller prepared.
"""

from __future__ import annotations

import logging
from pathlib import Path

from mvlib.embed.stored import frontend_embeddings, run_embeddings
from mvlib.evaluate.probe.fit import probe_features
from mvlib.evaluate.probe.results import downstream_labels, write_predictions, write_results
from mvlib.evaluate.probe.runcheck import (
    RunStateError,
    check_checkpoint_config,
    check_run,
    partial_sensors,
)
from mvlib.frontend.interface import resolve_device
from mvlib.ml.runs import load_checkpoint, provenance

log = logging.getLogger(__name__)

__all__ = ["probe_trained_run", "probe_frontend"]


def probe_trained_run(
    run_dir, progress: bool = True, allow_unfinished: bool = False, run=None
) -> dict:
    """Probe a trained run (paper 3.4): frozen encoder, single view, time mean, MLP heads.

    Encodes every clip of the held-out sensors' downstream partitions, probes z_p, z_s and
    z_p ⊕ z_s (or the single latent of the contrastive/supervised baselines) on both tasks,
    and writes ``<run_dir>/results.json`` with every metric, the run's config, seed, the
    frontend/weights identity and the git commit.

    Refuses a folder that is not a run, an unfinished run (unless ``allow_unfinished``:
    the results then record ``finished: false``) and a checkpoint of another config.
    ``run``: the run's best-checkpoint :class:`mvlib.embed.stored.RunEmbeddings` when the caller
    already has them (the sweep's worker), else they are computed here.
    Writes into the run folder: its caller holds the run's lock
    (:func:`mvlib.ml.runlock.run_lock`), as ``mvlib probe`` and the sweep's workers do.
    """
    state = check_run(run_dir, allow_unfinished)
    check_checkpoint_config(run_dir, load_checkpoint(Path(run_dir) / "checkpoints" / "best.pt"))
    run = run if run is not None else run_embeddings(run_dir)
    for name in ("train", "val", "test"):
        if not (run.partition == name).any():
            raise RunStateError(
                run_dir,
                f"no labelled clip of the held-out sensors is in the probes' {name!r} partition",
                "the probes need labelled clips: label more of the held-out sensors' clips, or "
                "change split.seed / split.sensor_fractions and train a new run",
            )
    partial = partial_sensors(run.clips, run.partition)
    if partial:
        log.warning(
            "%s: held-out sensor(s) not in every probe partition (too few labelled clips): %s",
            run_dir,
            ", ".join(partial),
        )
    y_src, y_sen = downstream_labels(run.clips)
    per_clip: dict = {}
    results = probe_features(
        run.embeddings,
        y_src,
        y_sen,
        run.partition,
        run.cfg.probe,
        progress=progress,
        per_clip=per_clip,
    )
    ckpt = run.checkpoint
    extra = {
        "best_epoch": ckpt.get("epoch"),
        "val_total": ckpt.get("val_total"),
        "finished": state["finished"],
        # a string, so that tables of summaries stay flat ("" when every sensor is in all)
        "heldout_sensors_partial": "; ".join(partial),
    }
    if not state["finished"]:
        extra["unfinished"] = (
            f"probed an unfinished run ({state['epochs_done']} of {run.cfg.train.epochs} epochs; "
            "--allow-unfinished)"
        )
    preds = write_predictions(run_dir, per_clip, run.clips, run.partition, y_src, y_sen)
    return write_results(
        run_dir, results, run.cfg, ckpt["provenance"], run.model.method, extra, preds
    )


def probe_frontend(cfg, out_dir, clips, store, progress: bool = True) -> dict:
    """The frontend-only baseline ("DAC only"): probes on time-mean frontend features.

    Parameters
    ----------
    cfg : Config
    out_dir : folder of the results (made if missing)
    clips : the dataset's clip table, restricted to clips with features in ``store``
        (:func:`mvlib.workflow.prepare`'s ``clips``)
    store : LatentStore of ``cfg``'s frontend (``prepare``'s ``store``)
    """
    feats, down, part = frontend_embeddings(cfg, clips, store)
    y_src, y_sen = downstream_labels(down)
    per_clip: dict = {}
    results = probe_features(
        feats, y_src, y_sen, part, cfg.probe, progress=progress, per_clip=per_clip
    )
    Path(out_dir).mkdir(parents=True, exist_ok=True)
    preds = write_predictions(out_dir, per_clip, down, part, y_src, y_sen)
    prov = provenance(cfg, store, resolve_device("cpu"))
    return write_results(out_dir, results, cfg, prov, "frontend", {}, preds)
