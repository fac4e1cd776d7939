"""Training a codec: the loop, its resumable state, its lock, and the result.

``mvlib codec train --profile P`` / :func:`train_codec`. One folder per codec::

    <cache>/codec/<name>-<hash>/            hash: the codec section and the corpus's world
        state.pt            resume state (model, optimisers, step, CPU time, loss history)
        latest.pth          DAC-format weights at the state's step (dac.DAC.load reads it)
        snapshots/step-NNNNNN.pth   DAC-format weights every ``snapshot_every`` steps
        losses.json         the loss history (one row per step)
        train.lock, holder.json     the training lock and who holds it

Every step's batch is a function of ``(seed, step)`` alone: ``batch_size`` excerpts of
``segment_s`` from the corpus's training clips, and the torch RNG (DAC's quantizer dropout)
reseeded from ``(seed, step)``. The state is written atomically every ``checkpoint_every``
steps, so a training killed with ``-9`` resumes from its last state and reaches the weights
an uninterrupted run reaches (same machine, same thread count). The learning rate is
constant: asking for more ``steps`` continues a finished training and never changes its
first steps. Under ``torchrun`` each rank takes its rows of the global batch
(:func:`mvlib.ml.distributed.shard_bounds`) and rank 0 alone writes.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from mvlib.core import config as cfgmod
from mvlib.core.cache import atomic_write_bytes, atomic_write_json, cache_dir
from mvlib.core.errors import MvlibError
from mvlib.core.ownedlock import LockBusy, describe, owned_lock
from mvlib.ml import distributed
from mvlib.ml.codec.corpus import Corpus, corpus_config, load_corpus
from mvlib.ml.codec.losses import CodecLosses
from mvlib.ml.codec.model import build_codec, save_codec

__all__ = ["CodecResult", "codec_dir", "codec_identity", "train_codec"]

log = logging.getLogger(__name__)

#: fields of the codec section that do not change what a step computes
_NOT_IDENTITY = ("steps", "checkpoint_every", "snapshot_every", "device", "threads", "name")


@dataclass(frozen=True)
class CodecResult:
    """What a codec training left: its folder, weights and where it stopped."""

    codec_dir: Path
    weights: Path  #: DAC-format weights at ``step`` (``latest.pth``)
    step: int
    cpu_s: float  #: CPU seconds of training, summed over every resume
    is_main: bool = True  #: rank 0 (or one process): the one that wrote and reports


def codec_identity(cfg: cfgmod.Config) -> dict[str, Any]:
    """What makes two codec trainings different: the codec section (less its budget and
    bookkeeping) and the corpus's world."""
    codec = {k: v for k, v in asdict(cfg.codec).items() if k not in _NOT_IDENTITY}
    return {"codec": codec, "corpus_synth": cfgmod.to_dict(corpus_config(cfg).synth)}


def codec_dir(cfg: cfgmod.Config) -> Path:
    """``<cache>/codec/<name>-<hash of codec_identity>``."""
    return cache_dir("codec", f"{cfg.codec.name}-{cfgmod.config_hash(codec_identity(cfg), 8)}")


def train_codec(cfg: cfgmod.Config, steps: int | None = None, progress: bool = True) -> CodecResult:
    """Train (or continue training) the codec of ``cfg.codec`` up to ``steps`` steps.

    Parameters
    ----------
    cfg : Config
        The resolved config; its ``codec`` section is the codec, its corpus and its budget.
    steps : int, optional
        Train up to this step (default ``cfg.codec.steps``); a finished training is
        continued, never restarted.
    progress : bool
        Show a progress bar.

    Returns
    -------
    CodecResult
        The codec's folder, its DAC-format weights at the last step, the step, CPU seconds.

    Raises
    ------
    MvlibError
        Another process is training this codec.

    Examples
    --------
    A codec small enough to train two steps in seconds (the profile's is larger):

    >>> import mvlib
    >>> small = {"codec.encoder_dim": 4, "codec.encoder_rates": [2, 4], "codec.latent_dim": 8,
    ...          "codec.decoder_dim": 16, "codec.decoder_rates": [4, 2], "codec.sample_rate": 8000,
    ...          "codec.corpus_sensors": 3, "codec.corpus_clips_per_sensor": 2,
    ...          "codec.corpus_duration_s": 1.0, "codec.heldout_sensors": 1,
    ...          "codec.batch_size": 2, "codec.segment_s": 0.25}
    >>> res = mvlib.train_codec(mvlib.load_config("ci", small), steps=2, progress=False)
    >>> res.step, res.weights.name
    (2, 'latest.pth')
    >>> import dac
    >>> dac.DAC.load(str(res.weights)).latent_dim
    8
    """
    c = cfg.codec
    steps = c.steps if steps is None else int(steps)
    if steps < 1:
        raise MvlibError("--steps", f"{steps} is not a step count", "give a count >= 1")
    if c.threads:
        torch.set_num_threads(c.threads)
    folder = codec_dir(cfg)
    with distributed.process_group(c.device) as ctx:
        cfg = distributed.agree_config(cfg)  # every rank trains rank 0's resolved config
        corpus = distributed.main_first(load_corpus, cfg, progress and ctx.is_main)
        device = distributed.device_for(c.device, ctx)
        with _lock(folder, ctx.is_main):
            return _train(cfg, steps, corpus, folder, device, ctx, progress and ctx.is_main)


@contextlib.contextmanager
def _lock(folder: Path, is_main: bool) -> Iterator[None]:
    """The codec's training lock (rank 0 holds it): two trainings of one codec never run."""
    with contextlib.ExitStack() as stack:
        if is_main:
            try:
                stack.enter_context(
                    owned_lock(folder / "train.lock", folder / "holder.json", wait=False)
                )
            except LockBusy as e:
                raise _busy(folder, e) from e
        yield


def _busy(folder: Path, e: LockBusy) -> MvlibError:
    return MvlibError(
        folder,
        f"another process is training this codec ({describe(e.holder)})",
        "wait for it to finish (it resumes from its own state), or stop it first",
    )


def _train(cfg, steps, corpus: Corpus, folder: Path, device, ctx, progress) -> CodecResult:
    """The loop: restore the state, step to ``steps``, checkpoint and snapshot on the way."""
    c = cfg.codec
    model = build_codec(c).to(device)
    losses = CodecLosses(c).to(device)
    opt_g = torch.optim.AdamW(model.parameters(), lr=c.lr, betas=c.betas)
    opt_d = (
        torch.optim.AdamW(losses.discriminator.parameters(), lr=c.lr, betas=c.betas)
        if c.gan
        else None
    )
    state = _restore(folder, cfg, model, losses, opt_g, opt_d)
    step, cpu_s, history = state["step"], state["cpu_s"], state["history"]
    net = distributed.wrap(model, device)
    disc = distributed.wrap(losses.discriminator, device) if c.gan else None
    seg = _segment(c)
    bar = tqdm(total=steps, initial=step, unit="step", desc=f"codec {c.name}", disable=not progress)
    t0 = time.process_time()
    while step < steps:
        x = torch.from_numpy(batch_excerpts(corpus, c.seed, step, c.batch_size, seg))  # (B, N)
        lo, hi = distributed.shard_bounds(len(x), ctx.rank, ctx.world_size)
        x = x[lo:hi, None].to(device)  # (b, 1, N)
        torch.manual_seed(c.seed * 1_000_003 + step)  # the quantizer's dropout draw
        share = (hi - lo) * ctx.world_size / c.batch_size  # this rank's part of the mean
        row = step_once(net, disc, losses, opt_g, opt_d, x, c, share)
        step += 1
        history.append({"step": step, **row})
        bar.update(1)
        bar.set_postfix(mel=f"{row['mel']:.3f}")
        if ctx.is_main and (step % c.checkpoint_every == 0 or step == steps):
            cpu_now = cpu_s + time.process_time() - t0
            _checkpoint(folder, cfg, model, losses, opt_g, opt_d, step, cpu_now, history)
            if step % c.snapshot_every == 0:
                _snapshot(folder, cfg, model, step, cpu_now, corpus)
    bar.close()
    cpu_s += time.process_time() - t0
    if ctx.is_main:
        save_codec(model, folder / "latest.pth", _provenance(cfg, step, cpu_s, corpus))
    distributed.barrier()
    return CodecResult(folder, folder / "latest.pth", step, cpu_s, ctx.is_main)


def step_once(net, disc, losses, opt_g, opt_d, x, c, weight: float) -> dict[str, float]:
    """One optimiser step on ``x: Tensor[b x 1 x N]``; the loss terms as floats.

    ``weight`` scales this rank's loss by its share of the global batch (1 on one process).
    """
    out = net(x, c.sample_rate)
    y = out["audio"]  # (b, 1, N)
    if disc is not None:
        loss_d = losses.discriminator_loss(disc, y.detach(), x) * weight
        opt_d.zero_grad(set_to_none=True)
        loss_d.backward()
        torch.nn.utils.clip_grad_norm_(disc.parameters(), 10.0)
        opt_d.step()
    terms = losses(y, x, out, disc)
    total = terms["total"] * weight
    opt_g.zero_grad(set_to_none=True)
    total.backward()
    norm = torch.nn.utils.clip_grad_norm_(net.parameters(), c.grad_clip)
    opt_g.step()
    row = {k: float(v.detach()) for k, v in terms.items()}
    row["grad_norm"] = float(norm)
    return row


def batch_excerpts(corpus: Corpus, seed: int, step: int, batch: int, seg: int) -> np.ndarray:
    """The excerpts of training step ``step``: ``np.ndarray[batch x seg]`` float32.

    A function of ``(seed, step)`` alone: the clips (from the training sensors) and the
    start of each excerpt; a clip shorter than ``seg`` is zero-padded on the right.
    """
    rng = np.random.default_rng([seed, step])
    clips = rng.choice(corpus.train, size=batch)
    out = np.zeros((batch, seg), dtype=np.float32)
    for b, i in enumerate(clips):
        n = int(corpus.lengths[i])
        start = int(rng.integers(0, max(1, n - seg + 1)))
        part = corpus.clip(int(i))[start : start + seg]
        out[b, : len(part)] = part
    return out


def _segment(c) -> int:
    """``segment_s`` in samples, rounded up to whole hops."""
    hop = int(np.prod(c.encoder_rates))
    return int(np.ceil(c.segment_s * c.sample_rate / hop)) * hop


def _restore(folder: Path, cfg, model, losses, opt_g, opt_d) -> dict[str, Any]:
    """The saved state loaded into the modules (step 0 when there is none)."""
    path = folder / "state.pt"
    if not path.is_file():
        return {"step": 0, "cpu_s": 0.0, "history": []}
    blob = torch.load(path, map_location="cpu", weights_only=False)
    if blob["identity"] != _json(codec_identity(cfg)):
        raise MvlibError(
            path,
            "holds another codec's training state than the one asked for",
            "delete the folder to start this codec afresh",
        )
    model.load_state_dict(blob["model"])
    opt_g.load_state_dict(blob["opt_g"])
    if opt_d is not None:
        losses.discriminator.load_state_dict(blob["disc"])
        opt_d.load_state_dict(blob["opt_d"])
    log.info("codec: resumed %s at step %d", folder, blob["step"])
    return {"step": blob["step"], "cpu_s": blob["cpu_s"], "history": blob["history"]}


def _checkpoint(folder, cfg, model, losses, opt_g, opt_d, step, cpu_s, history) -> None:
    """Write the resume state atomically, then the loss history."""
    blob = {
        "identity": _json(codec_identity(cfg)),
        "model": model.state_dict(),
        "opt_g": opt_g.state_dict(),
        "step": step,
        "cpu_s": cpu_s,
        "history": history,
    }
    if opt_d is not None:
        blob["disc"] = losses.discriminator.state_dict()
        blob["opt_d"] = opt_d.state_dict()
    buf = io.BytesIO()
    torch.save(blob, buf)
    atomic_write_bytes(folder / "state.pt", buf.getvalue())
    atomic_write_json(folder / "losses.json", {"identity": blob["identity"], "history": history})


def _snapshot(folder: Path, cfg, model, step: int, cpu_s: float, corpus: Corpus) -> None:
    (folder / "snapshots").mkdir(exist_ok=True)
    path = folder / "snapshots" / f"step-{step:06d}.pth"
    save_codec(model, path, _provenance(cfg, step, cpu_s, corpus))


def _provenance(cfg, step: int, cpu_s: float, corpus: Corpus) -> dict[str, Any]:
    """``metadata["mvlib"]`` of a codec file: plain types only."""
    return {
        "name": cfg.codec.name,
        "step": int(step),
        "cpu_s": round(float(cpu_s), 1),
        "corpus": corpus.name,
        "config": _json(cfgmod.to_dict(cfg.codec)),
        "corpus_synth": _json(cfgmod.to_dict(corpus_config(cfg).synth)),
    }


def _json(obj: Any) -> Any:
    """``obj`` as JSON reads it back (tuples as lists): what is saved compares equal."""
    return json.loads(json.dumps(obj))
