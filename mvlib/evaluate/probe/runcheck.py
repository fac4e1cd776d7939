"""Run checks: refuse to probe what is not a finished run of one config.

A folder without ``config.yaml`` and a best checkpoint is not a run; a run without
``done.json`` has not finished (probed only when asked, and the results then say so); a
checkpoint whose config is not the run's ``config.yaml`` was copied in from another run.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from mvlib.core import config as cfgmod
from mvlib.core.errors import MvlibError

__all__ = [
    "NotARunError",
    "RunStateError",
    "check_run",
    "check_checkpoint_config",
    "partial_sensors",
]


class NotARunError(MvlibError):
    """A folder that does not hold a training run."""


class RunStateError(MvlibError):
    """A run that cannot be probed as asked (unfinished, or its files disagree)."""


def check_run(run_dir, allow_unfinished: bool = False) -> dict:
    """Refuse to probe what is not a finished run of one config; returns its state.

    Raises
    ------
    NotARunError
        No such folder, or no ``config.yaml`` / ``checkpoints/best.pt`` in it.
    RunStateError
        The run did not finish (no ``done.json``) and ``allow_unfinished`` is False.

    Returns
    -------
    dict
        ``finished`` (bool) and ``epochs_done`` (last epoch in losses.csv + 1, or None).
    """
    run_dir = Path(run_dir)
    fix = "give a run folder made by `mvlib train` (it prints the folder at its end)"
    if not run_dir.is_dir():
        raise NotARunError(run_dir, "no such folder", fix)
    need = [n for n in ("config.yaml", "checkpoints/best.pt") if not (run_dir / n).is_file()]
    if need:
        raise NotARunError(run_dir, f"not a training run: no {' or '.join(need)}", fix)
    finished = (run_dir / "done.json").is_file()
    epochs_done = None
    losses = run_dir / "losses.csv"
    if losses.is_file():
        ep = pd.read_csv(losses, usecols=["epoch"])["epoch"]
        epochs_done = int(ep.max()) + 1 if len(ep) else 0
    if not finished and not allow_unfinished:
        done = f" ({epochs_done} epoch(s) so far)" if epochs_done is not None else ""
        raise RunStateError(
            run_dir,
            f"the run has not finished{done}: no done.json",
            "finish it (`mvlib train` with the same config resumes it), or probe it as it is "
            "with --allow-unfinished (the results then say so)",
        )
    return {"finished": finished, "epochs_done": epochs_done}


def check_checkpoint_config(run_dir, ckpt: dict, which: str = "best") -> None:
    """Refuse a checkpoint whose config is not the run's ``config.yaml`` (copied in from another)."""
    run_dir = Path(run_dir)
    with open(run_dir / "config.yaml") as f:
        saved = cfgmod.to_dict(cfgmod.from_dict(yaml.safe_load(f) or {}))
    mine = cfgmod.to_dict(cfgmod.from_dict(ckpt.get("config", {})))
    if mine == saved:
        return
    a, b = _flat(mine), _flat(saved)
    diff = sorted(k for k in set(a) | set(b) if a.get(k) != b.get(k))
    raise RunStateError(
        run_dir / "checkpoints" / f"{which}.pt",
        f"this checkpoint was made by another config than the run's config.yaml "
        f"(differs in {diff[:5]}{' ...' if len(diff) > 5 else ''})",
        "probe the run folder the checkpoint came from, or retrain this run",
    )


def _flat(d: dict, prefix: str = "") -> dict:
    """``{"train": {"epochs": 2}}`` -> ``{"train.epochs": 2}``."""
    out = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        out.update(_flat(v, key + ".") if isinstance(v, dict) else {key: v})
    return out


def partial_sensors(clips, partition) -> list[str]:
    """Held-out sensors whose labelled clips are not in every probe partition."""
    sens = clips["sensor_id"].astype(str).to_numpy()
    out = []
    for s in sorted(set(sens)):
        have = set(np.asarray(partition)[sens == s].tolist()) - {""}
        if have != {"train", "val", "test"}:
            out.append(f"{s} (in {sorted(have) or 'none'})")
    return out
