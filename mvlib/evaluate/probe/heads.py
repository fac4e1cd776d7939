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
