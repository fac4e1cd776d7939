"""Downstream probes on frozen features (paper 3.4): 2-layer MLP heads per feature set.

One probe is fitted per (feature set, task): "source" is 8-class multi-label (BCE, scored
by sample Jaccard), "sensor" is multi-class (CE, scored by accuracy). Features are
standardised with TRAINING statistics only. For each weight decay of
``ProbeConfig.weight_decays`` a fresh head is trained with AdamW; the epoch and weight decay
with the best validation score (ties: lower validation loss) are kept, as hear-eval-kit
selects its grid on validation. The test partition is scored once, by the selected head.

The sweep fits hundreds of probes on small features (N ~ 500-5000, d <= 2048), so the loop
works on whole tensors (no DataLoader) and evaluates validation in one forward pass. All
heads fitted on the same rows (every weight decay, feature set and task of a run) train
together as one batched module (:func:`_train_heads_tasks`): per-step overhead, not
arithmetic, is what these tiny heads cost. Each head follows the protocol above exactly as
if trained alone (``tests/evaluate/test_probe.py`` checks this).
"""

from __future__ import annotations

import contextlib
import logging
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch import nn
from tqdm import tqdm

from mvlib.core.config import ProbeConfig
from mvlib.core.errors import MvlibError
from mvlib.evaluate.metrics import (
    EMPTY_CLIP_JACCARD,
    accuracy,
    binarize,
    dcase_metrics,
    dsc_priv,
    dsc_shared,
    f1_macro,
    jaccard_per_sample,
    jaccard_samples,
)

log = logging.getLogger(__name__)

__all__ = [
    "TASKS",
    "MLPProbe",
    "FittedProbe",
    "fit_probe",
    "fit_probes",
    "evaluate_probe",
    "per_clip_outputs",
    "check_labels",
    "prepare_heads",
    "fit_tasks",
    "probe_features",
    "load_predictions",
]

TASKS = ("source", "sensor")
PARTITIONS = ("train", "val", "test", "")
_STD_FLOOR = 1e-8  #: features with smaller training spread are only centred


class MLPProbe(nn.Module):
    """Linear(d, hidden) -> ReLU -> Dropout -> Linear(hidden, n_out) (paper 3.4).

    Parameters
    ----------
    d_in, n_out, hidden : int
    dropout : float
    """

    def __init__(self, d_in: int, n_out: int, hidden: int = 256, dropout: float = 0.1):
        super().__init__()
        assert d_in > 0 and n_out > 0 and hidden > 0, "MLPProbe: sizes must be positive"
        self.net = nn.Sequential(
            nn.Linear(d_in, hidden), nn.ReLU(), nn.Dropout(dropout), nn.Linear(hidden, n_out)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Tensor[B x d_in] -> logits Tensor[B x n_out]."""
        return self.net(x)


@dataclass
class FittedProbe:
    """A trained probe with its standardisation and model-selection record."""

    task: str
    model: MLPProbe
    mean: np.ndarray  #: ndarray[d] training mean
    std: np.ndarray  #: ndarray[d] training std (1 where the feature is constant)
    n_out: int
    weight_decay: float
    best_epoch: int  #: 1-based epoch of the kept state
    val_score: float  #: validation Jaccard (source) or accuracy (sensor) of the kept state
    val_loss: float
    history: dict = field(default_factory=dict)  #: {weight_decay: [val score per epoch]}

    def _logits(self, X) -> torch.Tensor:
        X = _check_features("X", X, d=self.mean.shape[0])
        x = torch.from_numpy(((X - self.mean) / self.std).astype(np.float32))
        self.model.eval()
        with torch.no_grad():
            return self.model(x)

    def predict_scores(self, X) -> np.ndarray:
        """Sigmoid (source) or softmax (sensor) probabilities, ndarray[N x n_out]."""
        logits = self._logits(X)
        probs = torch.sigmoid(logits) if self.task == "source" else torch.softmax(logits, dim=1)
        return probs.double().numpy()

    def predict(self, X) -> np.ndarray:
        """Source: ndarray[N x 8] of 0/1 (threshold 0.5); sensor: ndarray[N] class codes."""
        scores = self.predict_scores(X)
        return binarize(scores, 0.5) if self.task == "source" else scores.argmax(axis=1)


# --------------------------------------------------------------------------- validation


def _check_task(task: str) -> None:
    if task not in TASKS:
        raise ValueError(f"task must be one of {TASKS}, got {task!r}")


def _check_features(name: str, X, d: int | None = None) -> np.ndarray:
    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 2 or X.shape[0] == 0:
        raise ValueError(f"{name}: expected a non-empty 2-D array [N x d], got shape {X.shape}")
    if d is not None and X.shape[1] != d:
        raise ValueError(f"{name}: expected {d} feature columns, got {X.shape[1]}")
    if not np.isfinite(X).all():
        row = int(np.nonzero(~np.isfinite(X).all(axis=1))[0][0])
        raise ValueError(f"{name}: non-finite feature value in row {row}")
    return X


def check_labels(name: str, y, task: str, n: int, n_out: int | None = None) -> np.ndarray:
    y = np.asarray(y)
    if task == "source":
        if y.ndim != 2 or y.shape[0] != n:
            raise ValueError(f"{name}: expected source labels [{n} x C], got shape {y.shape}")
        if not np.isin(y, (0, 1)).all():
            raise ValueError(f"{name}: source labels must be 0/1, found {np.unique(y)[:5]}")
        if n_out is not None and y.shape[1] != n_out:
            raise ValueError(f"{name}: expected {n_out} label columns, got {y.shape[1]}")
        return y.astype(np.float32)
    if y.ndim != 1 or y.shape[0] != n:
        raise ValueError(f"{name}: expected sensor codes of shape ({n},), got {y.shape}")
    if not np.issubdtype(y.dtype, np.integer) or (y < 0).any():
        raise ValueError(f"{name}: sensor labels must be non-negative int codes, got {y.dtype}")
    if n_out is not None and y.max() >= n_out:
        raise ValueError(f"{name}: sensor code {int(y.max())} >= n_classes={n_out}")
    return y.astype(np.int64)


# --------------------------------------------------------------------------- fitting


@contextlib.contextmanager
def _num_threads(n: int | None):
    """Temporarily set torch's intra-op thread count."""
    old = torch.get_num_threads()
    if n is not None:
        assert n >= 1, f"threads must be >= 1 or None, got {n}"
        torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(old)


def _score(task: str, y: np.ndarray, logits: torch.Tensor) -> float:
    """Validation metric of logits: source Jaccard at probability 0.5, sensor accuracy.

    Source Jaccard uses the book's empty-clip convention (metrics.EMPTY_CLIP_JACCARD), so
    that false alarms on clips without any source count against a head.
    """
    if task == "source":
        # threshold the float32 sigmoid exactly as predict() does, not the logit
        pred = (torch.sigmoid(logits) >= 0.5).long().numpy()
        return jaccard_samples(y.astype(np.int64), pred, zero_division=EMPTY_CLIP_JACCARD)
    return accuracy(y, logits.argmax(dim=1).numpy())


def _seeded_init(d: int, n_out: int, cfg: ProbeConfig, seed: int):
    """Initial MLPProbe of input size d and the dropout generator that follows its init.

    Reproduces the sequential protocol: ``torch.manual_seed(seed)``, build the MLPProbe
    (init from the global RNG), then draw dropout masks from the global RNG as it stands.
    Must run inside ``torch.random.fork_rng``.
    """
    torch.manual_seed(seed)
    model = MLPProbe(d, n_out, cfg.hidden, cfg.dropout)
    drop = torch.Generator()
    drop.set_state(torch.get_rng_state())
    return model, drop


def _views(th: torch.Tensor, d_max: int, hid: int, n_out: int):
    """Views of flat head parameters Tensor[k x P] (P = d_max*hid + hid + hid*n_out + n_out).

    Returns W1 Tensor[k x d_max x hid], b1 Tensor[k x hid], W2 Tensor[k x hid x n_out],
    b2 Tensor[k x n_out]: head h computes ``relu(x @ W1[h] + b1[h]) @ W2[h] + b2[h]``.
    """
    k = th.shape[0]
    o1 = d_max * hid
    o2 = o1 + hid
    o3 = o2 + hid * n_out
    assert th.shape[1] == o3 + n_out, f"expected {o3 + n_out} parameters per head"
    return (
        th[:, :o1].view(k, d_max, hid),
        th[:, o1:o2],
        th[:, o2:o3].view(k, hid, n_out),
        th[:, o3:],
    )


def _heads_forward(th, x, d_max, hid, n_out, mask=None):
    """Logits Tensor[k x B x n_out] of k heads on their inputs x Tensor[k x B x d_max].

    ``mask``: dropout multipliers Tensor[B x hid] (shared) or Tensor[k x B x hid], or a
    list of ``(lo, hi, Tensor[B x hid])``: the multipliers of heads lo..hi-1, or None.
    Also returns the gate Tensor[k x B x hid]: d hidden / d pre-activation (relu's 0/1
    times the dropout multiplier), so that hidden = gate * pre-activation.
    """
    W1, b1, W2, b2 = _views(th, d_max, hid, n_out)
    pre = torch.baddbmm(b1.unsqueeze(1), x, W1)  # (k, B, hid)
    gate = (pre > 0).to(pre.dtype)
    if isinstance(mask, list):
        for lo, hi, mk in mask:
            gate[lo:hi].mul_(mk)
    elif mask is not None:
        gate.mul_(mask)
    a = pre.mul_(gate)  # relu, then dropout
    return torch.baddbmm(b2.unsqueeze(1), a, W2), a, gate  # (k, B, n_out)


def _heads_loss(task: str, logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Each head's mean loss, Tensor[k]: BCE over B x C (source) or CE over B (sensor)."""
    k, b, n_out = logits.shape
    if task == "source":
        bce = nn.functional.binary_cross_entropy_with_logits(
            logits, y.expand(k, *y.shape), reduction="none"
        )
        return bce.mean(dim=(1, 2))
    ce = nn.functional.cross_entropy(logits.reshape(k * b, n_out), y.repeat(k), reduction="none")
    return ce.view(k, b).mean(dim=1)  # (k,)


def _heads_grad(th, x, y, task, d_max, hid, n_out, mask=None) -> torch.Tensor:
    """Gradient of the sum of the heads' mean training losses, Tensor[k x P], by hand.

    The sum's gradient in head h's slice is head h's own gradient (heads share no
    parameter). Written out (no autograd graph): the batched loop is dominated by
    per-step overhead, and autograd's view-into-flat-tensor backward copies the whole
    parameter block once per view. Checked against autograd in the tests.
    """
    return _heads_grad_parts(th, x, [(0, th.shape[0], task, y, n_out)], d_max, hid, n_out, mask)


def _heads_grad_parts(th, x, parts, d_max, hid, n_max, mask=None) -> torch.Tensor:
    """:func:`_heads_grad` of heads of several tasks: ``parts`` lists ``(lo, hi, task, y,
    n_out)``, heads lo..hi-1 being of that task with ``n_out <= n_max`` outputs (the
    others are padding: zero weights, zero gradient, never scored)."""
    logits, a, gate = _heads_forward(th, x, d_max, hid, n_max, mask)
    k, b, _ = logits.shape
    dz = torch.zeros_like(logits)  # (k, B, n_max)
    for lo, hi, task, y, n_out in parts:
        z = logits[lo:hi, :, :n_out]
        if task == "source":  # d/dz mean BCE = (sigmoid(z) - y) / (B * C)
            dz[lo:hi, :, :n_out] = torch.sigmoid(z).sub_(y).div_(b * n_out)
        else:  # d/dz mean CE = (softmax(z) - onehot(y)) / B
            one = nn.functional.one_hot(y, n_out)
            dz[lo:hi, :, :n_out] = torch.softmax(z, dim=2).sub_(one).div_(b)
    W1, b1, W2, b2 = _views(th, d_max, hid, n_max)
    g = torch.empty_like(th)
    gW1, gb1, gW2, gb2 = _views(g, d_max, hid, n_max)
    gW2.copy_(torch.bmm(a.transpose(1, 2), dz))  # (k, hid, n_max)
    gb2.copy_(dz.sum(dim=1))
    da = torch.bmm(dz, W2.transpose(1, 2))  # (k, B, hid)
    da.mul_(gate)  # relu and dropout
    gW1.copy_(torch.bmm(x.transpose(1, 2), da))  # (k, d_max, hid); zero rows for padding
    gb1.copy_(da.sum(dim=1))
    return g


def _train_heads(
    xs_tr: list, xs_va: list, y_tr, y_va, y_va_np, task, n_out, wds: list, cfg, progress=False
) -> list[tuple]:
    """Train H heads of one task at once (see :func:`_train_heads_tasks`).

    Head h has its own input ``xs_tr[h]`` (Tensor[N_train x d_h], standardised; val
    ``xs_va[h]``) and weight decay ``wds[h]``; all share the rows and labels.
    """
    heads = [(task, a, b, w) for a, b, w in zip(xs_tr, xs_va, wds)]
    return _train_heads_tasks(heads, {task: (y_tr, y_va, y_va_np, n_out)}, cfg, progress)


@torch.no_grad()
def _train_heads_tasks(heads: list, labels: dict, cfg, progress=False) -> list[tuple]:
    """Train H MLP heads at once as one batched module; each head follows the old protocol.

    Parameters
    ----------
    heads : list of (task, Tensor[N_train x d_h], Tensor[N_val x d_h], weight decay)
        Standardised inputs; every head uses the same training and validation rows.
    labels : dict task -> (y_train Tensor, y_val Tensor, y_val ndarray, n_out)

    Head h's weights are slices of one flat parameter Tensor[H x P] (W1 [d_max x hidden],
    b1, W2 [hidden x n_max], b2), trained with a hand-written AdamW (torch's formula) whose
    decoupled decay is per head. Inputs narrower than d_max are zero-padded: a zero input
    column gives its W1 row a zero gradient, so that row stays exactly 0 under AdamW (zero
    moments, decay of 0) and the head computes what an unpadded head of width d_h computes.
    Likewise a task with fewer outputs than n_max has zero, never-trained, never-scored
    output columns.

    Per head, as in the sequential loop it replaces (one MLPProbe + torch.optim.AdamW per
    head): the seed ``cfg.seed`` gives MLPProbe's initial weights, the same dropout masks
    and the same batch order for every weight decay and every feature set of the same width
    (common random numbers); each epoch scores validation, keeps the best state (higher
    score, then lower val loss), and a head without improvement for ``cfg.patience`` epochs
    stops (it leaves the batch; its kept state is final). A head's results do not depend on
    the other heads in the batch.

    Returns
    -------
    list of (state_dict of MLPProbe(d_h, n_out), best epoch, val score, val loss, score
    history), in the order of ``heads``.
    """
    H = len(heads)
    assert H > 0, "no heads to train"
    tasks = list(labels)
    # heads sorted by (task, width), stably: each task's and each dropout stream's heads
    # are contiguous
    order = sorted(range(H), key=lambda h: (tasks.index(heads[h][0]), int(heads[h][1].shape[1])))
    heads = [heads[h] for h in order]
    dims = [int(h[1].shape[1]) for h in heads]
    n = heads[0][1].shape[0]
    assert all(h[1].shape[0] == n for h in heads), "heads must share the training rows"
    d_max, hid = max(dims), cfg.hidden
    n_max = max(labels[t][3] for t in tasks)
    outs = [labels[h[0]][3] for h in heads]

    def pad(x, d):  # (N, d_h) -> (N, d_max), zero columns on the right
        return nn.functional.pad(x, (0, d - x.shape[1]))

    # inputs stored once per distinct feature set (the weight decays' and tasks' heads of a
    # feature set share it), gathered per batch: memory F x N x d_max, not H x N x d_max
    uniq: list = []
    src_list = []
    for h in heads:
        j = next((j for j, u in enumerate(uniq) if _same_input(u, h)), None)
        if j is None:
            uniq.append(h)
            j = len(uniq) - 1
        src_list.append(j)
    xu_tr = torch.stack([pad(u[1], d_max) for u in uniq])  # (F, N, d_max)
    xu_va = torch.stack([pad(u[2], d_max) for u in uniq])  # (F, N_val, d_max)
    src = torch.tensor(src_list)  # (H,) feature set of each head

    gen = torch.Generator().manual_seed(cfg.seed)  # batch order, shared by all heads
    seed = int(torch.randint(0, 2**31 - 1, (1,), generator=gen))
    # one init and one dropout stream per (task, width): a task's own generator, seeded
    # alike, as each sequential fit had
    keys = sorted(set(zip([h[0] for h in heads], dims)), key=lambda k: (tasks.index(k[0]), k[1]))
    streams = {k: _seeded_init(k[1], labels[k[0]][3], cfg, seed) for k in keys}
    group = [keys.index((h[0], d)) for h, d in zip(heads, dims)]  # ascending

    P = d_max * hid + hid + hid * n_max + n_max
    theta = torch.zeros(H, P)
    for h, d in enumerate(dims):
        net, k = streams[keys[group[h]]][0].net, outs[h]
        W1, b1, W2, b2 = _views(theta[h : h + 1], d_max, hid, n_max)
        W1[0, :d] = net[0].weight.T  # (d, hidden)
        b1[0] = net[0].bias
        W2[0, :, :k] = net[3].weight.T  # (hidden, n_out)
        b2[0, :k] = net[3].bias
    m, v = torch.zeros(H, P), torch.zeros(H, P)  # AdamW moments
    wd = torch.tensor([float(h[3]) for h in heads]).unsqueeze(1)  # (H, 1)
    beta1, beta2, eps, lr = 0.9, 0.999, 1e-8, cfg.lr  # torch.optim.AdamW defaults

    best_theta = theta.clone()
    best_score = [-math.inf] * H
    best_loss = [math.inf] * H
    best_epoch, since = [0] * H, [0] * H
    history: list[list] = [[] for _ in range(H)]
    alive = list(range(H))  # sorted index of each row still in the batch
    bs, p, step = min(cfg.batch_size, n), cfg.dropout, 0

    def spans(rows: list) -> list:  # [(lo, hi, value)] runs of equal values in rows
        out, lo = [], 0
        for i in range(1, len(rows) + 1):
            if i == len(rows) or rows[i] != rows[lo]:
                out.append((lo, i, rows[lo]))
                lo = i
        return out

    live = [heads[h][0] for h in alive]
    for epoch in tqdm(range(1, cfg.epochs + 1), desc="probe heads", disable=not progress):
        perm = torch.randperm(n, generator=gen)
        segments = spans(group)
        task_spans = spans(live)
        for i in range(0, n, bs):
            idx = perm[i : i + bs]
            b = idx.shape[0]
            mask = None
            if p > 0:  # as nn.Dropout on CPU: bernoulli_(1 - p), scaled by 1 / (1 - p)
                mask = []
                for lo, hi, g in segments:
                    mk = torch.zeros(b, hid)
                    if p < 1:
                        mk.bernoulli_(1 - p, generator=streams[keys[g]][1]).div_(1 - p)
                    mask.append((lo, hi, mk))  # (B, hid) for heads lo..hi-1
            parts = [(lo, hi, t, labels[t][0][idx], labels[t][3]) for lo, hi, t in task_spans]
            xb = xu_tr.index_select(1, idx).index_select(0, src)  # (k, B, d_max)
            grad = _heads_grad_parts(theta, xb, parts, d_max, hid, n_max, mask)
            step += 1
            theta.mul_(1 - lr * wd)  # decoupled weight decay, per head
            m.lerp_(grad, 1 - beta1)
            v.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
            denom = (v.sqrt() / math.sqrt(1 - beta2**step)).add_(eps)
            theta.addcdiv_(m, denom, value=-lr / (1 - beta1**step))
        x_va = xu_va.index_select(0, src)  # (k, N_val, d_max)
        logits = _heads_forward(theta, x_va, d_max, hid, n_max)[0]  # eval: no dropout
        val_loss = [0.0] * len(alive)
        for lo, hi, t in task_spans:
            k = labels[t][3]
            val_loss[lo:hi] = _heads_loss(t, logits[lo:hi, :, :k], labels[t][1]).tolist()
        keep = []
        for r, h in enumerate(alive):
            t = live[r]
            score = _score(t, labels[t][2], logits[r, :, : outs[h]])
            history[h].append(score)
            if score > best_score[h] or (score == best_score[h] and val_loss[r] < best_loss[h]):
                best_score[h], best_loss[h], best_epoch[h], since[h] = score, val_loss[r], epoch, 0
                best_theta[h] = theta[r]
            else:
                since[h] += 1
            if cfg.patience is None or since[h] < cfg.patience:
                keep.append(r)
        if len(keep) < len(alive):  # stopped heads leave the batch: no more updates
            if not keep:
                break
            sel = torch.tensor(keep)
            alive = [alive[r] for r in keep]
            live = [live[r] for r in keep]
            theta, m, v, wd = theta[sel], m[sel], v[sel], wd[sel]
            group = [group[r] for r in keep]
            src = src[sel]

    out: list = [None] * H
    for h, d in enumerate(dims):
        W1, b1, W2, b2 = _views(best_theta[h : h + 1], d_max, hid, n_max)
        k = outs[h]
        state = {
            "net.0.weight": W1[0, :d].T.contiguous(),  # (hidden, d)
            "net.0.bias": b1[0].clone(),
            "net.3.weight": W2[0, :, :k].T.contiguous(),  # (n_out, hidden)
            "net.3.bias": b2[0, :k].clone(),
        }
        out[order[h]] = (state, best_epoch[h], best_score[h], best_loss[h], history[h])
    return out


def _same_input(a: tuple, b: tuple) -> bool:
    """Whether two heads ``(task, x_train, x_val, wd)`` have the same input tensors."""
    if a[1] is b[1] and a[2] is b[2]:
        return True
    return (
        a[1].shape == b[1].shape
        and a[2].shape == b[2].shape
        and torch.equal(a[1], b[1])
        and torch.equal(a[2], b[2])
    )


def _standardise(X_tr: np.ndarray, X_va: np.ndarray):
    """Training mean/std (std 1 where constant) and the standardised float32 tensors."""
    mean = X_tr.mean(axis=0)
    std = X_tr.std(axis=0)
    std = np.where(std > _STD_FLOOR, std, 1.0)  # constant features: centre only
    to_t = lambda a: torch.from_numpy(((a - mean) / std).astype(np.float32))  # noqa: E731
    return mean, std, to_t(X_tr), to_t(X_va)


def fit_probes(
    features: dict,
    y_train,
    y_val,
    task: str,
    cfg: ProbeConfig,
    progress: bool = False,
    n_classes: int | None = None,
    threads: int | None = 1,
) -> dict:
    """Fit one probe per feature set on the same rows, all heads trained at once.

    Every (feature set, weight decay) head is one slice of a batched module (see
    :func:`_train_heads`); per feature set, the weight decay with the best validation
    score (ties: lower validation loss; first in ``cfg.weight_decays`` order) is kept.
    A feature set's probe is the one :func:`fit_probe` gives for it alone (same epochs,
    scores and selection; weights equal up to float rounding where widths differ).

    Parameters
    ----------
    features : dict[str, (ndarray[N_train x d], ndarray[N_val x d])]
        Training and validation features of each feature set (d may differ between sets).
    y_train, y_val, task, cfg, progress, n_classes, threads
        As :func:`fit_probe`.

    Returns
    -------
    dict[str, FittedProbe]
        In the order of ``features``. Deterministic for a given ``cfg.seed`` on CPU; the
        global torch RNG is left as it was.
    """
    _check_task(task)
    if not features:
        raise ValueError("fit_probes: no feature sets given")
    if not cfg.weight_decays:
        raise ValueError("ProbeConfig.weight_decays: expected at least one weight decay")
    if cfg.epochs < 1 or cfg.batch_size < 1:
        raise ValueError(f"ProbeConfig: epochs and batch_size must be >= 1, got {cfg}")
    prepared = prepare_heads(features, y_train, y_val, task, n_classes)
    return fit_tasks({task: prepared}, cfg, progress, threads)[task]


def prepare_heads(features: dict, y_train, y_val, task: str, n_classes) -> tuple:
    """Checked labels and standardised inputs of one task's feature sets.

    Returns (standardised {name: (mean, std, x_train, x_val)}, y_train, y_val, n_out).
    """
    std, y_tr, y_va, n_out = {}, None, None, None
    for name, (X_train, X_val) in features.items():
        sfx = "" if len(features) == 1 else f"[{name!r}]"
        X_tr = _check_features(f"X_train{sfx}", X_train)
        X_va = _check_features(f"X_val{sfx}", X_val, d=X_tr.shape[1])
        if y_tr is None:
            y_tr = check_labels("y_train", y_train, task, X_tr.shape[0])
            n_out = y_tr.shape[1] if task == "source" else n_classes
            y_va = check_labels("y_val", y_val, task, X_va.shape[0], n_out)
            if task == "sensor":
                n_out = n_out or int(max(y_tr.max(), y_va.max())) + 1
                check_labels("y_train", y_tr, task, X_tr.shape[0], n_out)
        if X_tr.shape[0] != y_tr.shape[0] or X_va.shape[0] != y_va.shape[0]:
            raise ValueError(
                f"features[{name!r}]: expected {y_tr.shape[0]} train and {y_va.shape[0]} "
                f"val rows, got {X_tr.shape[0]} and {X_va.shape[0]}"
            )
        std[name] = _standardise(X_tr, X_va)
    return std, y_tr, y_va, n_out


def fit_tasks(prepared: dict, cfg: ProbeConfig, progress, threads) -> dict:
    """Fit every (task, feature set, weight decay) head in one batched loop.

    ``prepared``: task -> :func:`prepare_heads` output; every task's rows must be the same (the
    heads share the batch order). Returns task -> {name: FittedProbe}.
    """
    heads, labels = [], {}
    for task, (std, y_tr, y_va, n_out) in prepared.items():
        labels[task] = (torch.from_numpy(y_tr), torch.from_numpy(y_va), y_va, n_out)
        for _, _, x_tr, x_va in std.values():
            heads += [(task, x_tr, x_va, float(wd)) for wd in cfg.weight_decays]
    with torch.random.fork_rng(devices=[]), _num_threads(threads):
        fitted = _train_heads_tasks(heads, labels, cfg, progress)
        # built inside fork_rng: their (overwritten) init must not draw from the global RNG
        models = {
            (task, name): MLPProbe(st[0].shape[0], labels[task][3], cfg.hidden, cfg.dropout)
            for task, (std, *_) in prepared.items()
            for name, st in std.items()
        }
    out: dict = {}
    it = iter(fitted)
    for task, (std, *_) in prepared.items():
        n_out = labels[task][3]
        for name, (mean, sd, _, _) in std.items():
            best, history = None, {}
            for wd in cfg.weight_decays:  # the heads of this feature set, in grid order
                state, epoch, score, loss, hist = next(it)
                history[float(wd)] = hist
                if best is None or score > best[2] or (score == best[2] and loss < best[3]):
                    best = (state, epoch, score, loss, float(wd))
            state, epoch, score, loss, wd = best
            model = models[task, name]
            model.load_state_dict(state)
            model.eval()
            out.setdefault(task, {})[name] = FittedProbe(
                task, model, mean, sd, n_out, wd, epoch, score, loss, history
            )
    return out


def fit_probe(
    X_train,
    y_train,
    X_val,
    y_val,
    task: str,
    cfg: ProbeConfig,
    progress: bool = False,
    n_classes: int | None = None,
    threads: int | None = 1,
) -> FittedProbe:
    """Fit a 2-layer MLP probe, selecting epoch and weight decay on validation.

    The heads of all weight decays train at once (see :func:`fit_probes`, which fits
    several feature sets on the same rows in one batch).

    Parameters
    ----------
    X_train, X_val : ndarray[N x d]
    y_train, y_val : ndarray[N x C] of 0/1 (task "source") or ndarray[N] int codes ("sensor")
    task : "source" | "sensor"
    cfg : ProbeConfig
    progress : bool
        tqdm over the epochs.
    n_classes : int, optional
        Sensor task only: number of classes (default: largest code in train/val + 1).
    threads : int or None
        torch intra-op threads while fitting (restored afterwards); None keeps torch's
        setting. One thread is much faster for these small matrices on a shared machine
        (multi-threaded tiny matmuls stall on busy cores) and lets the sweep run probes
        in parallel processes.

    Returns
    -------
    FittedProbe
        Deterministic for a given ``cfg.seed`` on CPU; the global torch RNG is left as
        it was.
    """
    return fit_probes(
        {"x": (X_train, X_val)}, y_train, y_val, task, cfg, progress, n_classes, threads
    )["x"]


def evaluate_probe(probe: FittedProbe, X_test, y_test, task: str) -> dict:
    """Score a fitted probe once on the test partition.

    Returns
    -------
    dict
        source: ``jaccard`` (the book's convention: a clip with no true and no predicted
        source scores 1), ``jaccard_empty0`` (sklearn's default: it scores 0), ``n_empty``
        (test clips without any source), ``micro_auprc``, ``macro_auprc``, ``micro_f1``,
        ``class_auprc``, ``n_classes_no_positive``; sensor: ``accuracy``, ``macro_f1``.
        Both add ``val_score``, ``best_epoch``, ``weight_decay`` and ``n_test``.
    """
    _check_task(task)
    if task != probe.task:
        raise ValueError(f"evaluate_probe: probe was fitted for {probe.task!r}, not {task!r}")
    X = _check_features("X_test", X_test, d=probe.mean.shape[0])
    y = check_labels("y_test", y_test, task, X.shape[0], probe.n_out)
    scores = probe.predict_scores(X)
    if task == "source":
        y = y.astype(np.int64)
        pred = binarize(scores, 0.5)
        out = {
            "jaccard": jaccard_samples(y, pred, zero_division=EMPTY_CLIP_JACCARD),
            "jaccard_empty0": jaccard_samples(y, pred, zero_division=0.0),
            "n_empty": int((y.sum(axis=1) == 0).sum()),
            **dcase_metrics(y, scores),
        }
    else:
        pred = scores.argmax(axis=1)
        out = {"accuracy": accuracy(y, pred), "macro_f1": f1_macro(y, pred)}
    out.update(
        val_score=probe.val_score,
        best_epoch=probe.best_epoch,
        weight_decay=probe.weight_decay,
        n_test=int(X.shape[0]),
    )
    return out


def per_clip_outputs(probe: FittedProbe, X, y, task: str) -> dict:
    """Per-clip outputs of a fitted probe on one partition, for paired statistics.

    Returns
    -------
    dict of ndarray[N ...]
        ``scores`` (probabilities, float32 ``[N x C]``) and ``score``: the clip's share of
        the task metric (source: clip Jaccard, book convention; sensor: 1.0 if correct else
        0.0), whose mean is the partition's ``jaccard`` / ``accuracy``. Source adds
        ``jaccard_empty0`` (sklearn's convention).
    """
    _check_task(task)
    X = _check_features("X", X, d=probe.mean.shape[0])
    y = check_labels("y", y, task, X.shape[0], probe.n_out)
    scores = probe.predict_scores(X)
    if task == "source":
        y = y.astype(np.int64)
        pred = binarize(scores, 0.5)
        return {
            "scores": scores.astype(np.float32),
            "score": jaccard_per_sample(y, pred, EMPTY_CLIP_JACCARD),
            "jaccard_empty0": jaccard_per_sample(y, pred, 0.0),
        }
    return {
        "scores": scores.astype(np.float32),
        "score": (scores.argmax(axis=1) == y).astype(np.float64),
    }


# --------------------------------------------------------------------------- feature sets


def _check_partition(partition, n: int) -> np.ndarray:
    part = np.asarray(partition).astype(str)
    if part.shape != (n,):
        raise ValueError(f"partition: expected shape ({n},), got {part.shape}")
    bad = sorted({str(v) for v in np.unique(part)} - set(PARTITIONS))
    if bad:
        raise ValueError(f"partition: unexpected value(s) {bad}; expected one of {PARTITIONS}")
    for name in ("train", "val", "test"):
        if not (part == name).any():
            raise ValueError(f"partition: no row is {name!r}")
    return part


def probe_features(
    features: dict,
    y_source,
    y_sensor,
    partition,
    cfg: ProbeConfig,
    progress: bool = False,
    threads: int | None = 1,
    per_clip: dict | None = None,
) -> dict:
    """Probe every feature set on both tasks: fit on train, select on val, test once.

    Parameters
    ----------
    features : dict[str, ndarray[N x d]]
        e.g. ``{"z_p": ..., "z_s": ..., "joint": ..., "x": ...}`` (row-aligned).
    y_source : ndarray[N x 8] of 0/1
    y_sensor : ndarray[N]
        Sensor ids of any integer or string type; remapped to codes 0..K-1 over the
        labelled rows.
    partition : ndarray[N] of "train" | "val" | "test" | "" ("": not used)
    cfg : ProbeConfig
    progress : bool
        tqdm over the epochs of the batched heads.
    threads : int or None
        See :func:`fit_probe`.
    per_clip : dict, optional
        Filled (when given) with per-clip outputs of each selected head on val and test,
        keyed ``"{name}.{task}.{val|test}.{kind}"`` (see :func:`per_clip_outputs`), plus
        ``"sensor_classes"`` (the sensor ids of the codes). Rows follow the input order
        within each partition.

    Returns
    -------
    dict
        ``{name: {"source": metrics, "sensor": metrics}}`` (see :func:`evaluate_probe`),
        plus ``"dsc": {"dsc_priv", "dsc_shared"}`` (paper eqs. 6, 7, from source Jaccard
        and sensor accuracy) when both "z_p" and "z_s" are present.
    """
    if not features:
        raise ValueError("probe_features: no feature sets given")
    if "dsc" in features:
        raise ValueError("probe_features: 'dsc' is reserved for the DSCΔ entry")
    n = np.asarray(next(iter(features.values()))).shape[0]
    part = _check_partition(partition, n)
    y_src = check_labels("y_source", y_source, "source", n).astype(np.int64)
    y_sen = np.asarray(y_sensor)
    if y_sen.shape != (n,):
        raise ValueError(f"y_sensor: expected shape ({n},), got {y_sen.shape}")
    used = part != ""
    classes = np.unique(y_sen[used])
    codes = np.searchsorted(classes, y_sen)  # codes of unused rows are never read
    labels = {"source": y_src, "sensor": codes}
    rows = {name: part == name for name in ("train", "val", "test")}

    Xs = {}
    for name in features:
        X = _check_features(f"features[{name!r}]", features[name])
        if X.shape[0] != n:
            raise ValueError(f"features[{name!r}]: expected {n} rows, got {X.shape[0]}")
        Xs[name] = X
    results: dict = {name: {} for name in features}
    tr, va, te = rows["train"], rows["val"], rows["test"]
    # every (task, feature set, weight decay) head trains at once, in one batched loop
    split = {name: (X[tr], X[va]) for name, X in Xs.items()}
    prepared = {
        task: prepare_heads(
            split,
            labels[task][tr],
            labels[task][va],
            task,
            len(classes) if task == "sensor" else None,
        )
        for task in TASKS
    }
    fitted = fit_tasks(prepared, cfg, progress, threads)
    for task in TASKS:
        y = labels[task]
        for name, probe in fitted[task].items():
            X = Xs[name]
            results[name][task] = evaluate_probe(probe, X[te], y[te], task)
            if per_clip is not None:
                for pname, rows_ in (("val", va), ("test", te)):
                    for kind, arr in per_clip_outputs(probe, X[rows_], y[rows_], task).items():
                        per_clip[f"{name}.{task}.{pname}.{kind}"] = arr
    if per_clip is not None:
        per_clip["sensor_classes"] = classes.astype(str)
    if "z_p" in features and "z_s" in features:
        results["dsc"] = {
            "dsc_priv": dsc_priv(
                results["z_p"]["source"]["jaccard"], results["z_s"]["source"]["jaccard"]
            ),
            "dsc_shared": dsc_shared(
                results["z_s"]["sensor"]["accuracy"], results["z_p"]["sensor"]["accuracy"]
            ),
        }
    return results


# --------------------------------------------------------------------------- runs

#: the feature set scored as "overall" per method: z_p ⊕ z_s, the single latent, or raw features
MAIN_FEATURE = {
    "multiview": "joint",
    "singleview": "joint",
    "contrastive": "z",
    "supervised": "z",
    "frontend": "x",
}


def downstream_labels(clips) -> tuple[np.ndarray, np.ndarray]:
    """Probe targets of clip-table rows: source multi-hot ``[N x 8]``, sensor ids ``[N]``."""
    from mvlib.data.taxonomy import coarse_label_columns

    y_source = clips[list(coarse_label_columns())].to_numpy(np.int64)
    return y_source, clips["sensor_id"].astype(str).to_numpy()


def summarise_results(results: dict, method: str) -> dict:
    """Flat metrics of a probe result: overall (main feature), per subspace, DSCΔ.

    ``source_val_jaccard`` / ``sensor_val_accuracy`` are the selected heads' validation
    scores: what choices among configurations are made on (never test).
    """
    main = MAIN_FEATURE[method]
    src = results[main]["source"]
    out = {
        "source_jaccard": src["jaccard"],
        "sensor_accuracy": results[main]["sensor"]["accuracy"],
        "source_jaccard_empty0": src.get("jaccard_empty0"),
        "source_micro_auprc": src["micro_auprc"],
        "source_macro_auprc": src["macro_auprc"],
        "source_micro_f1": src["micro_f1"],
        "source_val_jaccard": src["val_score"],
        "sensor_val_accuracy": results[main]["sensor"]["val_score"],
        "n_test": src["n_test"],
        "main_feature": main,
    }
    for sub in ("z_p", "z_s"):
        if sub in results:
            out[f"source_jaccard_{sub}"] = results[sub]["source"]["jaccard"]
            out[f"sensor_accuracy_{sub}"] = results[sub]["sensor"]["accuracy"]
    if "dsc" in results:
        out.update(results["dsc"])
    return out


#: per-clip val/test outputs of every probe, beside results.json (see :func:`load_predictions`)
PREDICTIONS_FILE = "predictions.npz"


def _write_predictions(out_dir, per_clip: dict, clips, partition, y_source, y_sensor) -> dict:
    """Write the per-clip sidecar atomically; return its name and hash for results.json."""
    import hashlib
    import io

    from mvlib.core.cache import atomic_write_bytes

    arrays = dict(per_clip)
    part = np.asarray(partition).astype(str)
    codes = np.searchsorted(arrays["sensor_classes"], np.asarray(y_sensor).astype(str))
    for name in ("val", "test"):
        rows = part == name
        arrays[f"clip_id.{name}"] = np.asarray(clips["clip_id"])[rows].astype(str)
        arrays[f"y_source.{name}"] = np.asarray(y_source)[rows].astype(np.int8)
        arrays[f"y_sensor.{name}"] = codes[rows].astype(np.int64)
    buf = io.BytesIO()
    np.savez_compressed(buf, **arrays)
    data = buf.getvalue()
    atomic_write_bytes(Path(out_dir) / PREDICTIONS_FILE, data)
    return {"file": PREDICTIONS_FILE, "sha256": hashlib.sha256(data).hexdigest()}


def load_predictions(run_dir) -> dict:
    """The per-clip outputs of a probed run, checked against the hash in its results.json.

    Returns
    -------
    dict of ndarray
        Keys as written by :func:`probe_features` (``"{feature}.{task}.{val|test}.{kind}"``)
        plus ``clip_id.{val|test}``, ``y_source.{val|test}``, ``y_sensor.{val|test}`` and
        ``sensor_classes``.
    """
    import hashlib
    import io
    import json

    from mvlib.core.errors import MvlibError

    run_dir = Path(run_dir)
    res = json.loads((run_dir / "results.json").read_text())
    meta = res.get("predictions")
    if not meta:
        raise MvlibError(
            run_dir / "results.json",
            "has no per-clip predictions (probed by an older mvlib)",
            "delete the run's results.json and rerun the sweep to probe it again",
        )
    f = run_dir / meta["file"]
    if not f.exists():
        raise MvlibError(f, "is missing", "delete results.json beside it and probe the run again")
    data = f.read_bytes()
    if hashlib.sha256(data).hexdigest() != meta["sha256"]:
        raise MvlibError(
            f,
            "does not match the hash recorded in results.json (changed or truncated)",
            "delete results.json beside it and probe the run again",
        )
    with np.load(io.BytesIO(data), allow_pickle=False) as z:
        return {k: z[k] for k in z.files}


def _write_results(out_dir, results, cfg, prov, method, extra, predictions=None) -> dict:
    from mvlib.core import config as cfgmod
    from mvlib.core.cache import atomic_write_json, strict_json
    from mvlib.ml.train import git_commit

    ident = prov.get("feature_identity", {})
    summary = {
        "profile": cfg.profile,
        "method": method,
        "objective": cfg.objective.objective if method == "multiview" else None,
        "level": cfg.objective.level if method == "multiview" else None,
        "mask_ratio": cfg.objective.mask_ratio if cfg.objective.objective == "mask" else None,
        "supervised_task": cfg.model.supervised_task if method == "supervised" else None,
        "seed": cfg.train.seed,
        # the dataset folder decides what the data is (data.source only says what to do
        # when none exists): name it by the folder, or by the cache's synthetic set
        "data": f"{'folder' if cfg.data.root else cfg.data.source}:{prov.get('dataset')}",
        "data_root": cfg.data.root,
        "frontend": ident.get("frontend"),
        "weights": ident.get("weights", "n/a (no weights)"),
        **summarise_results(results, method),
        **extra,
    }
    payload = {
        "summary": summary,
        "metrics": results,
        "config": cfgmod.to_dict(cfg),
        "provenance": prov,
        "git_commit": git_commit(),
        "predictions": predictions,
    }
    # strict JSON: a metric that is not defined here (AUPRC of a class without a test
    # positive, say) is null, and listed under "undefined"
    undefined: list = []
    payload = strict_json(payload, undefined=undefined)
    payload["undefined"] = undefined
    if undefined:
        payload["undefined_note"] = UNDEFINED_NOTE
    atomic_write_json(Path(out_dir) / "results.json", payload)
    return payload


UNDEFINED_NOTE = (
    "null values are undefined on this test partition, e.g. the AUPRC of a class "
    "without a test positive; they are left out of the macro average"
)


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
    import yaml

    from mvlib.core import config as cfgmod

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


def _partial_sensors(clips, partition) -> list[str]:
    """Held-out sensors whose labelled clips are not in every probe partition."""
    sens = clips["sensor_id"].astype(str).to_numpy()
    out = []
    for s in sorted(set(sens)):
        have = set(np.asarray(partition)[sens == s].tolist()) - {""}
        if have != {"train", "val", "test"}:
            out.append(f"{s} (in {sorted(have) or 'none'})")
    return out


def probe_run(run_dir, progress: bool = True, allow_unfinished: bool = False, run=None) -> dict:
    """Probe a trained run (paper 3.4): frozen encoder, single view, time mean, MLP heads.

    Encodes every clip of the held-out sensors' downstream partitions, probes z_p, z_s and
    z_p ⊕ z_s (or the single latent of the contrastive/supervised baselines) on both tasks,
    and writes ``<run_dir>/results.json`` with every metric, the run's config, seed, the
    frontend/weights identity and the git commit.

    Refuses a folder that is not a run, an unfinished run (unless ``allow_unfinished``:
    the results then record ``finished: false``) and a checkpoint of another config.
    ``run``: the run's best-checkpoint :class:`mvlib.evaluate.embed.RunEmbeddings` when the caller
    already has them (the sweep's worker), else they are computed here.
    """
    from mvlib.evaluate.embed import run_embeddings
    from mvlib.ml.train import load_checkpoint

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
    partial = _partial_sensors(run.clips, run.partition)
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
    preds = _write_predictions(run_dir, per_clip, run.clips, run.partition, y_src, y_sen)
    return _write_results(
        run_dir, results, run.cfg, ckpt["provenance"], run.model.method, extra, preds
    )


def frontend_embeddings(cfg, progress: bool = True):
    """Time-mean frontend features of the held-out sensors' downstream clips.

    Returns
    -------
    (features {"x": ndarray[N x D]}, downstream clip rows, partition ndarray[N], provenance)
    """
    from mvlib import workflow
    from mvlib.data.pairing import make_splits
    from mvlib.evaluate.embed import embed_rows
    from mvlib.frontend.features import resolve_device
    from mvlib.ml.model import build_model
    from mvlib.ml.train import provenance

    clips = workflow.load_dataset(cfg, progress=False)
    store = workflow.ensure_store(cfg, clips, progress=progress)
    clips = workflow.usable_clips(clips, store)  # bad audio: left out, named
    splits = make_splits(clips, cfg.split)
    down = clips.loc[splits.downstream != ""]
    frontend_only = build_model("frontend", store.dim, cfg.model)
    feats = embed_rows(frontend_only, store, store.rows(down["clip_id"]))  # {"x": (N, D)}
    part = splits.downstream[splits.downstream != ""]
    return feats, down, part, provenance(cfg, store, resolve_device("cpu"))


def probe_frontend(cfg, out_dir, progress: bool = True) -> dict:
    """The frontend-only baseline ("DAC only"): probes on time-mean frontend features."""
    feats, down, part, prov = frontend_embeddings(cfg, progress)
    y_src, y_sen = downstream_labels(down)
    per_clip: dict = {}
    results = probe_features(
        feats, y_src, y_sen, part, cfg.probe, progress=progress, per_clip=per_clip
    )
    Path(out_dir).mkdir(parents=True, exist_ok=True)
    preds = _write_predictions(out_dir, per_clip, down, part, y_src, y_sen)
    return _write_results(out_dir, results, cfg, prov, "frontend", {}, preds)


# --------------------------------------------------------------------------- quick check


def pooled_mean_std(store, clip_ids) -> np.ndarray:
    """Time mean and std of each clip's features, concatenated: ndarray[N x 2D]."""
    out = []
    for c in clip_ids:
        x = store.get(c).astype(np.float32)  # (T, D)
        out.append(np.concatenate([x.mean(0), x.std(0)]))
    return np.stack(out)


def linear_probe_cv(X, y_sensor, y_source, folds: int = 4, seed: int = 0) -> dict:
    """Cross-validated logistic-regression probe of what pooled features carry.

    Parameters
    ----------
    X : ndarray[N x d]
    y_sensor : ndarray[N] (any ids)
    y_source : ndarray[N x 8] of 0/1

    Returns
    -------
    dict with "sensor accuracy", "source balanced accuracy" (mean over classes with both
    values present) and their chance levels.
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import balanced_accuracy_score
    from sklearn.model_selection import StratifiedKFold, cross_val_predict
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    y_sensor = np.asarray(y_sensor).astype(str)
    n_min = min(np.unique(y_sensor, return_counts=True)[1])
    k = int(max(2, min(folds, n_min)))
    cv = StratifiedKFold(k, shuffle=True, random_state=seed)
    clf = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000, C=0.1))
    pred = cross_val_predict(clf, X, y_sensor, cv=cv)
    sensor_acc = float((pred == y_sensor).mean())
    bal = []
    for c in range(y_source.shape[1]):
        y = y_source[:, c]
        if y.min() == y.max() or min(y.sum(), len(y) - y.sum()) < k:
            continue
        p = cross_val_predict(clf, X, y, cv=StratifiedKFold(k, shuffle=True, random_state=seed))
        bal.append(balanced_accuracy_score(y, p))
    return {
        "sensor accuracy": sensor_acc,
        "chance sensor accuracy": 1.0 / len(np.unique(y_sensor)),
        "source balanced accuracy": float(np.mean(bal)) if bal else float("nan"),
        "chance source balanced accuracy": 0.5,
        "clips": len(X),
        "folds": k,
    }


def compare_stores(stores: dict, clips) -> pd.DataFrame:
    """:func:`linear_probe_cv` of pooled features of the same clips from several stores.

    Parameters
    ----------
    stores : dict name -> LatentStore
    clips : clip table rows to use (each must be in every store)
    """
    from mvlib.data.taxonomy import coarse_label_columns

    ids = clips["clip_id"].tolist()
    y_src = clips[list(coarse_label_columns())].to_numpy(np.int64)
    rows = {}
    for name, store in stores.items():
        X = pooled_mean_std(store, ids)
        rows[name] = linear_probe_cv(X, clips["sensor_id"].to_numpy(), y_src)
    return pd.DataFrame(rows).T
