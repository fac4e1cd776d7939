"""Batched probe heads: many small MLPs trained at once, by a hand-written backward and AdamW.

The sweep fits hundreds of probes on small features (N ~ 500-5000, d <= 2048). What these
tiny heads cost is per-step overhead, not arithmetic, so every head fitted on the same rows
(every weight decay, feature set and task of a run) trains together as one batched module
(:func:`train_heads`): head h's weights are slices of one flat parameter
Tensor[H x P], and one step updates all of them.

Why the backward pass and AdamW are written by hand, instead of autograd and
``torch.optim.AdamW``:

* autograd's backward through views of one flat tensor copies the whole parameter block
  once per view, which costs more than the heads' arithmetic (:func:`_heads_grad`);
* ``torch.optim.AdamW`` has one weight decay per parameter group, while each head here has
  its own decoupled decay (a row of one tensor), and heads that stop early leave the batch.

Both follow torch's formulas exactly. ``tests/evaluate/test_probe.py`` pins them to the
library: the gradient to autograd's, and each batched head to one ``MLPProbe`` trained
alone with ``torch.optim.AdamW`` (same epochs, scores and weights).
"""

from __future__ import annotations

import contextlib
import math
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from mvlib.core.config import ProbeConfig
from mvlib.evaluate.metrics import EMPTY_CLIP_JACCARD, accuracy, jaccard_samples

__all__ = ["MLPProbe", "train_heads", "train_one_task_heads", "num_threads"]


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


@contextlib.contextmanager
def num_threads(n: int | None):
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


def train_one_task_heads(
    xs_tr: list, xs_va: list, y_tr, y_va, y_va_np, task, n_out, wds: list, cfg, progress=False
) -> list[tuple]:
    """Train H heads of one task at once (see :func:`train_heads`).

    Head h has its own input ``xs_tr[h]`` (Tensor[N_train x d_h], standardised; val
    ``xs_va[h]``) and weight decay ``wds[h]``; all share the rows and labels.
    """
    heads = [(task, a, b, w) for a, b, w in zip(xs_tr, xs_va, wds)]
    return train_heads(heads, {task: (y_tr, y_va, y_va_np, n_out)}, cfg, progress)


@torch.no_grad()
def train_heads(heads: list, labels: dict, cfg, progress=False) -> list[tuple]:
    """Train H MLP heads at once as one batched module; each head as if trained alone.

    Head h's weights are slices of one flat parameter Tensor[H x P] (W1 [d_max x hidden],
    b1, W2 [hidden x n_max], b2), trained with a hand-written AdamW (torch's formula) whose
    decoupled decay is per head. Inputs narrower than d_max are zero-padded: a zero input
    column gives its W1 row a zero gradient, so that row stays exactly 0 under AdamW (zero
    moments, decay of 0) and the head computes what an unpadded head of width d_h computes.
    Likewise a task with fewer outputs than n_max has zero, never-trained, never-scored
    output columns.

    Each head computes what one MLPProbe trained alone with ``torch.optim.AdamW`` computes:
    the seed ``cfg.seed`` gives MLPProbe's initial weights, the same dropout masks and the
    same batch order for every weight decay and every feature set of the same width
    (common random numbers); each epoch scores validation, keeps the best state (higher
    score, then lower val loss), and a head without improvement for ``cfg.patience`` epochs
    stops (it leaves the batch; its kept state is final). A head's results do not depend on
    the other heads in the batch.

    Parameters
    ----------
    heads : list of (task, Tensor[N_train x d_h], Tensor[N_val x d_h], weight decay)
        Standardised inputs; every head uses the same training and validation rows.
    labels : dict task -> (y_train Tensor, y_val Tensor, y_val ndarray, n_out)
    cfg : ProbeConfig
        ``seed``, ``hidden``, ``dropout``, ``lr``, ``batch_size``, ``epochs``, ``patience``.
    progress : bool
        Show a progress bar over the epochs.

    Returns
    -------
    list of (state_dict of MLPProbe(d_h, n_out), best epoch, val score, val loss, score
    history), in the order of ``heads``.
    """
    lay = _layout(heads, labels, cfg)
    xu_tr, xu_va, src = _shared_inputs(lay)
    gen = torch.Generator().manual_seed(cfg.seed)  # batch order, shared by all heads
    nets, drops, group = _init_streams(lay, labels, cfg, gen)
    batch = _HeadBatch.start(lay, nets, group, src, cfg.lr)
    best = _Best.start(batch.theta)
    for epoch in tqdm(range(1, cfg.epochs + 1), desc="probe heads", disable=not progress):
        task_spans = _spans(batch.live)
        _train_epoch(batch, lay, labels, xu_tr, gen, drops, task_spans, cfg)
        logits, val_loss = _validate(batch, lay, labels, xu_va, task_spans)
        keep = best.update(batch, lay, labels, logits, val_loss, epoch, cfg.patience)
        if len(keep) < len(batch.alive):  # stopped heads leave the batch: no more updates
            if not keep:
                break
            batch.keep(keep)
    return _best_states(best, lay)


@dataclass
class _Layout:
    """How H heads share one batch: sorted by (task, width), stably, so that each task's
    and each dropout stream's heads are contiguous; and the padded sizes."""

    heads: list  #: (task, x_train, x_val, wd) in the sorted order
    order: list[int]  #: order[h]: the caller's index of sorted head h
    dims: list[int]  #: input width d_h of each head
    outs: list[int]  #: outputs n_out of each head's task
    n: int  #: training rows
    d_max: int
    hid: int
    n_max: int

    def views(self, th: torch.Tensor):
        """:func:`_views` of flat parameters Tensor[k x P] in this layout."""
        return _views(th, self.d_max, self.hid, self.n_max)


def _layout(heads: list, labels: dict, cfg) -> _Layout:
    """The batch layout of ``heads`` (see :class:`_Layout`)."""
    assert len(heads) > 0, "no heads to train"
    tasks = list(labels)
    order = sorted(
        range(len(heads)), key=lambda h: (tasks.index(heads[h][0]), int(heads[h][1].shape[1]))
    )
    heads = [heads[h] for h in order]
    dims = [int(h[1].shape[1]) for h in heads]
    n = heads[0][1].shape[0]
    assert all(h[1].shape[0] == n for h in heads), "heads must share the training rows"
    outs = [labels[h[0]][3] for h in heads]
    n_max = max(labels[t][3] for t in tasks)
    return _Layout(heads, order, dims, outs, n, max(dims), cfg.hidden, n_max)


def _shared_inputs(lay: _Layout) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Inputs stored once per distinct feature set, zero-padded on the right to d_max.

    The weight decays' and tasks' heads of a feature set share it, gathered per batch:
    memory F x N x d_max, not H x N x d_max. Returns the training inputs Tensor[F x N x
    d_max], the validation inputs Tensor[F x N_val x d_max] and each head's feature set
    Tensor[H].
    """
    uniq: list = []
    src_list = []
    for h in lay.heads:
        j = next((j for j, u in enumerate(uniq) if _same_input(u, h)), None)
        if j is None:
            uniq.append(h)
            j = len(uniq) - 1
        src_list.append(j)
    xu_tr = torch.stack([_pad(u[1], lay.d_max) for u in uniq])  # (F, N, d_max)
    xu_va = torch.stack([_pad(u[2], lay.d_max) for u in uniq])  # (F, N_val, d_max)
    return xu_tr, xu_va, torch.tensor(src_list)


def _pad(x: torch.Tensor, d: int) -> torch.Tensor:
    """Tensor[N x d_h] -> Tensor[N x d], zero columns on the right."""
    return nn.functional.pad(x, (0, d - x.shape[1]))


def _init_streams(lay: _Layout, labels: dict, cfg, gen: torch.Generator):
    """One initial MLPProbe and one dropout generator per (task, width), seeded alike.

    Each task has its own generator, seeded as each fit alone would be. Returns the
    initial nets and dropout generators (one per stream) and each head's stream (ascending).
    """
    seed = int(torch.randint(0, 2**31 - 1, (1,), generator=gen))
    tasks = list(labels)
    keys = sorted(
        set(zip([h[0] for h in lay.heads], lay.dims)), key=lambda k: (tasks.index(k[0]), k[1])
    )
    streams = [_seeded_init(d, labels[t][3], cfg, seed) for t, d in keys]
    group = [keys.index((h[0], d)) for h, d in zip(lay.heads, lay.dims)]
    return [s[0] for s in streams], [s[1] for s in streams], group


def _initial_params(lay: _Layout, nets: list, group: list[int]) -> torch.Tensor:
    """Flat parameters Tensor[H x P] of each head's initial MLPProbe, zero-padded."""
    P = lay.d_max * lay.hid + lay.hid + lay.hid * lay.n_max + lay.n_max
    theta = torch.zeros(len(lay.heads), P)
    for h, d in enumerate(lay.dims):
        net, k = nets[group[h]].net, lay.outs[h]
        W1, b1, W2, b2 = lay.views(theta[h : h + 1])
        W1[0, :d] = net[0].weight.T  # (d, hidden)
        b1[0] = net[0].bias
        W2[0, :, :k] = net[3].weight.T  # (hidden, n_out)
        b2[0, :k] = net[3].bias
    return theta


@dataclass
class _HeadBatch:
    """The heads still training: parameters, AdamW moments and decays, one row per head."""

    theta: torch.Tensor  #: Tensor[k x P]
    m: torch.Tensor  #: AdamW's first moments, Tensor[k x P]
    v: torch.Tensor  #: AdamW's second moments, Tensor[k x P]
    wd: torch.Tensor  #: decoupled weight decay, Tensor[k x 1]
    lr: float
    alive: list[int]  #: sorted index of each row still in the batch
    live: list[str]  #: task of each row
    group: list[int]  #: dropout stream of each row
    src: torch.Tensor  #: feature set of each row, Tensor[k]
    step: int = 0

    @classmethod
    def start(cls, lay: _Layout, nets: list, group: list[int], src, lr: float) -> _HeadBatch:
        H = len(lay.heads)
        theta = _initial_params(lay, nets, group)
        wd = torch.tensor([float(h[3]) for h in lay.heads]).unsqueeze(1)  # (H, 1)
        live = [h[0] for h in lay.heads]
        return cls(
            theta,
            torch.zeros_like(theta),
            torch.zeros_like(theta),
            wd,
            lr,
            list(range(H)),
            live,
            group,
            src,
        )

    def adamw_step(self, grad: torch.Tensor) -> None:
        """One AdamW update of every row (torch.optim.AdamW's formula and defaults)."""
        beta1, beta2, eps, lr = 0.9, 0.999, 1e-8, self.lr
        self.step += 1
        self.theta.mul_(1 - lr * self.wd)  # decoupled weight decay, per head
        self.m.lerp_(grad, 1 - beta1)
        self.v.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
        denom = (self.v.sqrt() / math.sqrt(1 - beta2**self.step)).add_(eps)
        self.theta.addcdiv_(self.m, denom, value=-lr / (1 - beta1**self.step))

    def keep(self, rows: list[int]) -> None:
        """Keep only these rows in the batch (the others stopped early)."""
        sel = torch.tensor(rows)
        self.alive = [self.alive[r] for r in rows]
        self.live = [self.live[r] for r in rows]
        self.group = [self.group[r] for r in rows]
        self.theta, self.m, self.v = self.theta[sel], self.m[sel], self.v[sel]
        self.wd, self.src = self.wd[sel], self.src[sel]


def _spans(rows: list) -> list:
    """``[(lo, hi, value)]``: the runs of equal values in ``rows``."""
    out, lo = [], 0
    for i in range(1, len(rows) + 1):
        if i == len(rows) or rows[i] != rows[lo]:
            out.append((lo, i, rows[lo]))
            lo = i
    return out


def _dropout_masks(segments: list, b: int, hid: int, p: float, drops: list):
    """Dropout multipliers of one step: ``[(lo, hi, Tensor[B x hid])]`` per dropout stream
    (as nn.Dropout on CPU: bernoulli_(1 - p), scaled by 1 / (1 - p)), or None when p = 0."""
    if p <= 0:
        return None
    mask = []
    for lo, hi, g in segments:
        mk = torch.zeros(b, hid)
        if p < 1:
            mk.bernoulli_(1 - p, generator=drops[g]).div_(1 - p)
        mask.append((lo, hi, mk))  # (B, hid) for heads lo..hi-1
    return mask


def _train_epoch(batch: _HeadBatch, lay, labels, xu_tr, gen, drops, task_spans, cfg) -> None:
    """One epoch of minibatch AdamW steps of every head in the batch."""
    n = lay.n
    perm = torch.randperm(n, generator=gen)
    segments = _spans(batch.group)
    for i in range(0, n, min(cfg.batch_size, n)):
        idx = perm[i : i + min(cfg.batch_size, n)]
        mask = _dropout_masks(segments, idx.shape[0], lay.hid, cfg.dropout, drops)
        parts = [(lo, hi, t, labels[t][0][idx], labels[t][3]) for lo, hi, t in task_spans]
        xb = xu_tr.index_select(1, idx).index_select(0, batch.src)  # (k, B, d_max)
        batch.adamw_step(
            _heads_grad_parts(batch.theta, xb, parts, lay.d_max, lay.hid, lay.n_max, mask)
        )


def _validate(batch: _HeadBatch, lay, labels, xu_va, task_spans):
    """Validation logits Tensor[k x N_val x n_max] (no dropout) and each row's loss."""
    x_va = xu_va.index_select(0, batch.src)  # (k, N_val, d_max)
    logits = _heads_forward(batch.theta, x_va, lay.d_max, lay.hid, lay.n_max)[0]
    val_loss = [0.0] * len(batch.alive)
    for lo, hi, t in task_spans:
        k = labels[t][3]
        val_loss[lo:hi] = _heads_loss(t, logits[lo:hi, :, :k], labels[t][1]).tolist()
    return logits, val_loss


@dataclass
class _Best:
    """Each head's kept state: parameters, score, loss and epoch, epochs since, history."""

    theta: torch.Tensor
    score: list
    loss: list
    epoch: list
    since: list
    history: list

    @classmethod
    def start(cls, theta: torch.Tensor) -> _Best:
        H = theta.shape[0]
        return cls(
            theta.clone(), [-math.inf] * H, [math.inf] * H, [0] * H, [0] * H, [[] for _ in range(H)]
        )

    def update(self, batch: _HeadBatch, lay, labels, logits, val_loss, epoch, patience):
        """Score each row, keep the better states (higher score, then lower loss); return
        the rows that go on (improved within ``patience`` epochs)."""
        keep = []
        for r, h in enumerate(batch.alive):
            t = batch.live[r]
            score = _score(t, labels[t][2], logits[r, :, : lay.outs[h]])
            self.history[h].append(score)
            if score > self.score[h] or (score == self.score[h] and val_loss[r] < self.loss[h]):
                self.score[h], self.loss[h], self.epoch[h] = score, val_loss[r], epoch
                self.since[h] = 0
                self.theta[h] = batch.theta[r]
            else:
                self.since[h] += 1
            if patience is None or self.since[h] < patience:
                keep.append(r)
        return keep


def _best_states(best: _Best, lay: _Layout) -> list[tuple]:
    """Each head's kept MLPProbe state and record, in the caller's order of heads."""
    out: list = [None] * len(lay.heads)
    for h, d in enumerate(lay.dims):
        W1, b1, W2, b2 = lay.views(best.theta[h : h + 1])
        k = lay.outs[h]
        state = {
            "net.0.weight": W1[0, :d].T.contiguous(),  # (hidden, d)
            "net.0.bias": b1[0].clone(),
            "net.3.weight": W2[0, :, :k].T.contiguous(),  # (n_out, hidden)
            "net.3.bias": b2[0, :k].clone(),
        }
        out[lay.order[h]] = (state, best.epoch[h], best.score[h], best.loss[h], best.history[h])
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
