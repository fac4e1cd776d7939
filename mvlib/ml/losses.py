"""Training objectives of the multi-view autoencoder and its baselines (paper 2.2, 3.6).

The paper leaves a few things open; these are the project's definitions.

Similarity
    ``sim(a, b) = (1 + cos(a, b)) / 2`` maps cosine similarity to [0, 1] so that eqs. 2, 3
    and 5 read as binary log-likelihoods. It is clamped to ``[SIM_EPS, 1 - SIM_EPS]``
    (``SIM_EPS = 1e-6``) so that ``log sim`` and ``log(1 - sim)`` stay finite: identical
    vectors give ``L_cos+ = -log(1 - 1e-6) ~ 1e-6`` and ``L_cos- = -log(1e-6) ~ 13.8``.
    Vectors are unit-normalised with ``F.normalize`` (norm clamped at 1e-12), so a zero
    vector has cosine 0 (sim 0.5) and no NaN gradient.

Reduction over time
    Latents are ``Tensor[B x T x k]``; the cosine objectives compare one vector per clip,
    obtained by :func:`reduce_time`: ``"mean"`` over frames (B x k) or ``"flatten"``
    (B x T*k; needs equal T within the batch).

Equations
    * eq. 1 :func:`reconstruction`: mean squared error of one view, averaged over every
      entry (B, T, D); the total sums it over the views.
    * eq. 2 :func:`cos_plus` ``level="sample"``: ``mean_j -log sim(z1_j, z2_j)``.
    * eq. 4 :func:`cos_plus` ``level="batch"``: ``mean_j -log softmax_k(cos(z1_j, z2_k)/tau)``
      at ``k = j`` (one direction, z1 -> z2). The paper writes ``exp(sim)``; we use cosine
      logits divided by a temperature tau (default 1), the usual InfoNCE form. With B = 1
      the loss is exactly 0.
    * eq. 3 :func:`cos_minus` ``level="sample"``: ``mean_j -log(1 - sim(z1_j, z2_j))``.
    * eq. 5 :func:`cos_minus` ``level="batch"``: mean over all (j, k) pairs of
      ``-log(1 - sim(z1_j, z2_k))``.
    * ``L_total = L_rec(view 1) + L_rec(view 2) + cos_weight * L_cos`` (paper: weight 1),
      with ``L_cos`` = eq. 3/5 on the private latents (``cos_minus``) or eq. 2/4 on the
      shared latents (``cos_plus``); objectives ``rec`` and ``mask`` add no cosine term.

Baselines
    * :func:`info_nce` (contrastive baseline): symmetric InfoNCE, the mean of the two
      directions (z1 -> z2 and z2 -> z1) of the eq. 4 form, with temperature tau.
    * :func:`supervised_loss`: BCE-with-logits for multi-label source classification,
      cross entropy for sensor classification.

Masking
    :func:`random_mask` zeroes each entry independently with probability ``r`` (Bernoulli
    per entry, no rescaling of the kept entries), so the zeroed fraction is ``r`` in
    expectation and the mask is fresh on every call. The model applies it only in
    training mode.

Objectives
    The multi-view model's objective is looked up by name in the registry
    :data:`OBJECTIVES` (:mod:`mvlib.core.registry`), where this module registers the
    built-ins ``rec``, ``cos_minus``, ``cos_plus`` and ``mask``; a researcher's module
    registers more (``mvlib.register_objective``, see book/extending.md). An objective is
    ``fn(out, x1, x2, cfg, gather) -> dict[str, Tensor]`` (:data:`ObjectiveFn`) returning its
    loss terms, with the differentiable scalar ``"total"``; ``losses.csv`` records the terms
    named ``total``, ``rec`` and ``cos``.

Every loss is a function of tensors; :func:`model_loss` dispatches on ``model.method``.
Non-finite terms raise :class:`NonFiniteLossError` naming the term.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from torch import Tensor

from mvlib.core.config import ObjectiveConfig
from mvlib.core.errors import MvlibError
from mvlib.core.registry import OBJECTIVES

if TYPE_CHECKING:
    from torch import nn

SIM_EPS = 1e-6  #: clamp of sim() away from 0 and 1
TIME_REDUCTIONS = ("mean", "flatten")
#: the objective levels of eqs. 2-5 (``objective.level``)
OBJECTIVE_LEVELS = ("sample", "batch")
SUPERVISED_TASKS = ("source", "sensor")

#: ``fn(out, x1, x2, cfg, gather) -> terms``: a registered multi-view objective.
#: ``out`` is the model's forward output (x1_hat, x2_hat: Tensor[B x T x D]; z_p1, z_s1,
#: z_p2, z_s2, z_S: Tensor[B x T x D/2]); ``x1``, ``x2`` the views Tensor[B x T x D];
#: ``cfg`` the ObjectiveConfig; ``gather`` maps this process's rows Tensor[b x k] to the
#: global batch's Tensor[B x k] (identity in one process; apply it to time-reduced latents
#: of a term that compares rows across the batch). ``terms`` maps names to scalars and
#: holds the differentiable ``"total"``.
ObjectiveFn = Callable[..., dict[str, Tensor]]


class ObjectiveContractError(MvlibError, TypeError):
    """A registered objective returned no ``"total"``, or one training cannot back-propagate."""


#: what an objective must return (the fix of :class:`ObjectiveContractError`)
OBJECTIVE_CONTRACT = (
    "return a dict of loss terms whose 'total' is a scalar Tensor computed from the model's "
    "output (out), so that training can back-propagate it; see book/extending.md"
)


class NonFiniteLossError(FloatingPointError):
    """A loss term is NaN or infinite; ``term`` names it and ``value`` holds it."""

    def __init__(self, term: str, value: float):
        self.term = term
        self.value = value
        super().__init__(f"loss term {term!r} is not finite: {value}")


# --------------------------------------------------------------------------- building blocks


def autograd_safe(x: Tensor) -> Tensor:
    """``x``, cloned if it is an inference tensor while autograd is on.

    Features made under ``torch.inference_mode`` (a frozen frontend) cannot be saved for
    backward; a clone is an ordinary tensor that still carries no gradient history.
    """
    if x.is_inference() and torch.is_grad_enabled():
        return x.clone()
    return x


def reduce_time(z: Tensor, how: str = "mean") -> Tensor:
    """Reduce the frame axis of a latent sequence to one vector per clip.

    Parameters
    ----------
    z : Tensor[B x T x D]
    how : {"mean", "flatten"}

    Returns
    -------
    Tensor[B x D] for "mean", Tensor[B x (T*D)] for "flatten".
    """
    assert z.dim() == 3, f"reduce_time expects Tensor[B x T x D], got shape {tuple(z.shape)}"
    if how == "mean":
        return z.mean(dim=1)
    if how == "flatten":
        return z.reshape(z.shape[0], -1)  # (B, T*D)
    raise ValueError(f"time_reduce {how!r} is not one of {list(TIME_REDUCTIONS)}")


def _check_pair(a: Tensor, b: Tensor, name: str) -> None:
    assert a.dim() == 2 and a.shape == b.shape, (
        f"{name} expects two Tensor[B x D] of equal shape, got {tuple(a.shape)} "
        f"and {tuple(b.shape)}"
    )


def cosine(a: Tensor, b: Tensor) -> Tensor:
    """Row-wise cosine similarity, Tensor[B x D] x Tensor[B x D] -> Tensor[B]."""
    _check_pair(a, b, "cosine")
    return (F.normalize(a, dim=-1) * F.normalize(b, dim=-1)).sum(dim=-1)


def pairwise_cosine(a: Tensor, b: Tensor) -> Tensor:
    """All-pairs cosine similarity, Tensor[B x D] x Tensor[B x D] -> Tensor[B x B]."""
    _check_pair(a, b, "pairwise_cosine")
    return F.normalize(a, dim=-1) @ F.normalize(b, dim=-1).T


def _to_sim(cos: Tensor) -> Tensor:
    return ((1.0 + cos) / 2.0).clamp(SIM_EPS, 1.0 - SIM_EPS)


def sim(a: Tensor, b: Tensor) -> Tensor:
    """``(1 + cos(a_j, b_j)) / 2`` clamped to [1e-6, 1 - 1e-6]; Tensor[B x D] pair -> Tensor[B]."""
    return _to_sim(cosine(a, b))


def pairwise_sim(a: Tensor, b: Tensor) -> Tensor:
    """``sim(a_j, b_k)`` for all pairs; Tensor[B x D] pair -> Tensor[B x B] (row j, column k)."""
    return _to_sim(pairwise_cosine(a, b))


# --------------------------------------------------------------------------- equations


def reconstruction(x: Tensor, x_hat: Tensor) -> Tensor:
    """Eq. 1 for one view: mean squared error over every entry of Tensor[B x T x D]."""
    assert (
        x.shape == x_hat.shape
    ), f"reconstruction: x {tuple(x.shape)} and x_hat {tuple(x_hat.shape)} differ in shape"
    return F.mse_loss(x_hat, autograd_safe(x))


def cos_plus(z1: Tensor, z2: Tensor, level: str = "sample", temperature: float = 1.0) -> Tensor:
    """Pull shared latents together: eq. 2 (``level="sample"``) or eq. 4 (``"batch"``).

    Parameters
    ----------
    z1, z2 : Tensor[B x D]
        Time-reduced shared latents of the two views; row j of each is a positive pair.
    level : {"sample", "batch"}
    temperature : float
        tau of eq. 4 (batch level only): logits are ``cos(z1_j, z2_k) / tau``.

    Returns
    -------
    Tensor[] (scalar)
    """
    if level == "sample":
        return -torch.log(sim(z1, z2)).mean()
    if level == "batch":
        assert temperature > 0, f"temperature must be > 0, got {temperature}"
        logits = pairwise_cosine(z1, z2) / temperature  # (B, B)
        target = torch.arange(z1.shape[0], device=z1.device)
        return F.cross_entropy(logits, target)
    raise ValueError(f"level {level!r} is not one of {list(OBJECTIVE_LEVELS)}")


def cos_minus(z1: Tensor, z2: Tensor, level: str = "sample") -> Tensor:
    """Push private latents apart: eq. 3 (``level="sample"``) or eq. 5 (``"batch"``).

    Parameters
    ----------
    z1, z2 : Tensor[B x D]
        Time-reduced private latents of the two views.
    level : {"sample", "batch"}
        "sample": only the pairs (j, j); "batch": all B*B pairs (j, k).

    Returns
    -------
    Tensor[] (scalar)
    """
    if level == "sample":
        return -torch.log1p(-sim(z1, z2)).mean()
    if level == "batch":
        return -torch.log1p(-pairwise_sim(z1, z2)).mean()
    raise ValueError(f"level {level!r} is not one of {list(OBJECTIVE_LEVELS)}")


def info_nce(z1: Tensor, z2: Tensor, temperature: float = 0.1) -> Tensor:
    """Symmetric InfoNCE of the contrastive baseline (paper 3.6).

    Row j of ``z1`` and ``z2`` is a positive pair, every other row of the batch a
    negative. Mean of the cross entropies z1 -> z2 and z2 -> z1 over cosine logits / tau.

    Parameters
    ----------
    z1, z2 : Tensor[B x D]
    temperature : float

    Returns
    -------
    Tensor[] (scalar)
    """
    assert temperature > 0, f"temperature must be > 0, got {temperature}"
    logits = pairwise_cosine(z1, z2) / temperature  # (B, B)
    target = torch.arange(z1.shape[0], device=z1.device)
    return 0.5 * (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target))


def random_mask(z: Tensor, ratio: float, generator: torch.Generator | None = None) -> Tensor:
    """Zero each entry of ``z`` independently with probability ``ratio`` (fresh per call).

    Parameters
    ----------
    z : Tensor[...]
    ratio : float in [0, 1]
    generator : torch.Generator, optional
        Source of randomness (default: torch's global generator).

    Returns
    -------
    Tensor[...] of z's shape; kept entries are not rescaled.
    """
    assert 0.0 <= ratio <= 1.0, f"mask ratio must be in [0, 1], got {ratio}"
    keep = torch.rand(z.shape, generator=generator, device=z.device) >= ratio
    return z * keep.to(z.dtype)


def supervised_loss(logits: Tensor, y: Tensor, task: str) -> Tensor:
    """Supervised baseline loss (paper 3.6).

    Parameters
    ----------
    logits : Tensor[B x C]
    y : Tensor[B x C] of 0/1 (task "source", multi-label, BCE-with-logits) or
        Tensor[B] of class indices (task "sensor", cross entropy).
    task : {"source", "sensor"}
    """
    assert logits.dim() == 2, f"logits must be Tensor[B x C], got {tuple(logits.shape)}"
    if task == "source":
        if y.shape != logits.shape:
            raise ValueError(
                f"source task: labels must be multi-hot Tensor[B x C] of shape "
                f"{tuple(logits.shape)}, got {tuple(y.shape)}"
            )
        return F.binary_cross_entropy_with_logits(logits, y.to(logits.dtype))
    if task == "sensor":
        if y.shape != logits.shape[:1] or y.dtype.is_floating_point:
            raise ValueError(
                f"sensor task: labels must be integer class indices Tensor[B] with "
                f"B={logits.shape[0]}, got shape {tuple(y.shape)} dtype {y.dtype}"
            )
        n = logits.shape[1]
        if y.numel() and (int(y.min()) < 0 or int(y.max()) >= n):
            raise ValueError(f"sensor task: class index out of range [0, {n}): {y.tolist()}")
        return F.cross_entropy(logits, y)
    raise ValueError(f"supervised task {task!r} is not one of {list(SUPERVISED_TASKS)}")


# --------------------------------------------------------------------------- totals


def check_finite(terms: dict[str, Tensor]) -> dict[str, float]:
    """Convert loss terms to floats, raising :class:`NonFiniteLossError` on NaN/inf."""
    out = {}
    for name, value in terms.items():
        v = float(value.detach())
        if not math.isfinite(v):
            raise NonFiniteLossError(name, v)
        out[name] = v
    return out


def reconstruction_terms(out: dict[str, Tensor], x1: Tensor, x2: Tensor) -> dict[str, Tensor]:
    """Eq. 1 for both views: ``{"rec1", "rec2", "rec" = rec1 + rec2}`` (scalars)."""
    rec1 = reconstruction(x1, out["x1_hat"])
    rec2 = reconstruction(x2, out["x2_hat"])
    return {"rec1": rec1, "rec2": rec2, "rec": rec1 + rec2}


def _with_cos(rec: dict[str, Tensor], cos: Tensor, cfg: ObjectiveConfig) -> dict[str, Tensor]:
    return {**rec, "cos": cos, "total": rec["rec"] + cfg.cos_weight * cos}


@OBJECTIVES.register("rec")
def rec_objective(out, x1, x2, cfg: ObjectiveConfig, gather) -> dict[str, Tensor]:
    """``L_rec(1) + L_rec(2)``: reconstruction alone (the paper's "rec")."""
    rec = reconstruction_terms(out, x1, x2)
    return _with_cos(rec, rec["rec"].new_zeros(()), cfg)


@OBJECTIVES.register("mask")
def mask_objective(out, x1, x2, cfg: ObjectiveConfig, gather) -> dict[str, Tensor]:
    """Reconstruction from masked latents: the model masks (``objective.mask_*``), the loss is rec."""
    return rec_objective(out, x1, x2, cfg, gather)


@OBJECTIVES.register("cos_minus")
def cos_minus_objective(out, x1, x2, cfg: ObjectiveConfig, gather) -> dict[str, Tensor]:
    """``L_rec + cos_weight * L_cos-`` on the private latents (eq. 3 or 5)."""
    batch = gather if cfg.level == "batch" else _rows
    z1, z2 = (batch(reduce_time(out[k], cfg.time_reduce)) for k in ("z_p1", "z_p2"))
    return _with_cos(reconstruction_terms(out, x1, x2), cos_minus(z1, z2, cfg.level), cfg)


@OBJECTIVES.register("cos_plus")
def cos_plus_objective(out, x1, x2, cfg: ObjectiveConfig, gather) -> dict[str, Tensor]:
    """``L_rec + cos_weight * L_cos+`` on the shared latents (eq. 2 or 4)."""
    batch = gather if cfg.level == "batch" else _rows
    z1, z2 = (batch(reduce_time(out[k], cfg.time_reduce)) for k in ("z_s1", "z_s2"))
    cos = cos_plus(z1, z2, cfg.level, cfg.temperature)
    return _with_cos(reconstruction_terms(out, x1, x2), cos, cfg)


def objective_loss(
    out: dict[str, Tensor],
    x1: Tensor,
    x2: Tensor,
    cfg: ObjectiveConfig,
    gather: Callable[[Tensor], Tensor] | None = None,
) -> tuple[Tensor, dict[str, float]]:
    """Total loss of the multi-view model by the objective registered as ``cfg.objective``.

    The built-ins are ``L_rec(1) + L_rec(2) + cos_weight * L_cos``.

    Parameters
    ----------
    out : dict
        :meth:`mvlib.ml.model.MultiViewAE.forward` output (x1_hat, x2_hat, z_p1, z_s1, z_p2,
        z_s2, z_S; latents Tensor[B x T x D/2]).
    x1, x2 : Tensor[B x T x D]
        The two views (reconstruction targets).
    cfg : ObjectiveConfig
    gather : callable, optional
        Tensor[b x D] -> Tensor[B x D]: this process's rows to the global batch's (under
        torchrun, :func:`mvlib.ml.distributed.gather_rows`). The built-ins apply it to the
        time-reduced latents of a batch-level term (eqs. 4, 5) only; sample-level terms are
        means over rows and need no other rank's rows.

    Returns
    -------
    total : Tensor[] (scalar, differentiable)
    terms : dict[str, float]; the built-ins give "rec1", "rec2", "rec", "cos", "total"

    Raises
    ------
    ObjectiveContractError
        The objective returned no ``"total"``, a ``"total"`` that is no scalar Tensor, or
        (while ``out`` carries gradients) one without a gradient; it names the objective.
    NonFiniteLossError
        A term is NaN or infinite.
    """
    fn: ObjectiveFn = OBJECTIVES.get(cfg.objective)
    terms = fn(out, x1, x2, cfg, gather if gather is not None else _rows)
    return _contract_total(terms, out, cfg.objective, fn), check_finite(terms)


def _contract_total(terms, out: dict[str, Tensor], name: str, fn: ObjectiveFn) -> Tensor:
    """The objective's ``"total"``; :class:`ObjectiveContractError` naming it when ``terms``
    is no dict with a scalar Tensor ``"total"``, or when the model's output carries a
    gradient (training) and the total does not (computed apart from ``out``, or detached)."""
    if not isinstance(terms, dict):
        wrong = f"returned a {type(terms).__name__}, not a dict of loss terms"
    elif "total" not in terms:
        wrong = f"returned no 'total' (terms: {', '.join(map(str, terms)) or 'none'})"
    else:
        total = terms["total"]
        tracked = any(isinstance(v, Tensor) and v.requires_grad for v in out.values())
        if not isinstance(total, Tensor) or total.numel() != 1:
            shape = f"of shape {tuple(total.shape)}" if isinstance(total, Tensor) else ""
            wrong = f"returned a 'total' that is a {type(total).__name__} {shape}".strip()
            wrong += ", not a scalar Tensor"
        elif tracked and not total.requires_grad:
            wrong = (
                "returned a 'total' without a gradient (detached from the model's output, "
                "or computed apart from it)"
            )
        else:
            return total
    culprit = f"objective {name!r} ({fn.__module__}.{fn.__qualname__})"
    raise ObjectiveContractError(culprit, wrong, OBJECTIVE_CONTRACT)


def singleview_loss(model: nn.Module, xs: list[Tensor]) -> tuple[Tensor, dict[str, float]]:
    """Single-view autoencoder: eq. 1 summed over the clips given, each encoded alone.

    Both clips of a pair are independent single-view samples, so the total is on the same
    scale as the multi-view ``L_rec`` (a sum over two views).
    """
    terms = {}
    for i, x in enumerate(xs, start=1):
        terms[f"rec{i}"] = reconstruction(x, model(x)["x_hat"])
    total = sum(terms.values())
    terms["rec"] = total
    terms["total"] = total
    return total, check_finite(terms)


def contrastive_loss(
    out: dict[str, Tensor],
    cfg: ObjectiveConfig,
    gather: Callable[[Tensor], Tensor] | None = None,
) -> tuple[Tensor, dict[str, float]]:
    """Contrastive baseline: symmetric :func:`info_nce` on the time-reduced z1, z2.

    Uses ``cfg.nce_temperature`` and ``cfg.time_reduce``; ``gather`` as in
    :func:`objective_loss` (InfoNCE is batch level: the other rows are its negatives).
    """
    batch = gather or _rows
    z1 = batch(reduce_time(out["z1"], cfg.time_reduce))  # (B, D)
    z2 = batch(reduce_time(out["z2"], cfg.time_reduce))
    total = info_nce(z1, z2, cfg.nce_temperature)
    return total, check_finite({"nce": total, "total": total})


def model_loss(
    model: nn.Module,
    batch: dict[str, Tensor],
    cfg: ObjectiveConfig,
    gather: Callable[[Tensor], Tensor] | None = None,
) -> tuple[Tensor, dict[str, float]]:
    """Forward a batch through ``model`` and return its training loss by ``model.method``.

    Parameters
    ----------
    model : nn.Module with a ``method`` attribute (see :func:`mvlib.ml.model.build_model`)
    batch : dict
        "x1", "x2": Tensor[B x T x D] (the views; supervised models may get "x" instead of
        "x1"); "y": labels for the supervised model.
    cfg : ObjectiveConfig
    gather : callable, optional
        For batch-level terms under torchrun (see :func:`objective_loss`).

    Returns
    -------
    total : Tensor[] (scalar)
    terms : dict[str, float], always with "total"
    """
    method = getattr(model, "method", None)
    if method == "multiview":
        x1, x2 = _views(batch, method)
        return objective_loss(model(x1, x2), x1, x2, cfg, gather)
    if method == "singleview":
        xs = [batch[k] for k in ("x1", "x2") if k in batch] or [_single(batch, method)]
        return singleview_loss(model, xs)
    if method == "contrastive":
        return contrastive_loss(model(*_views(batch, method)), cfg, gather)
    if method == "supervised":
        if "y" not in batch:
            raise KeyError(f"supervised model: batch has no 'y'; keys {sorted(batch)}")
        logits = model(_single(batch, method))
        total = supervised_loss(logits, batch["y"], model.task)
        return total, check_finite({"sup": total, "total": total})
    raise ValueError(f"model_loss: model method {method!r} has no training loss")


def _rows(z: Tensor) -> Tensor:  # one process: its rows are the batch
    return z


def _views(batch: dict[str, Tensor], method: str) -> tuple[Tensor, Tensor]:
    missing = [k for k in ("x1", "x2") if k not in batch]
    if missing:
        raise KeyError(f"{method} model: batch lacks {missing}; keys {sorted(batch)}")
    return batch["x1"], batch["x2"]


def _single(batch: dict[str, Tensor], method: str) -> Tensor:
    for key in ("x", "x1"):
        if key in batch:
            return batch[key]
    raise KeyError(f"{method} model: batch has neither 'x' nor 'x1'; keys {sorted(batch)}")
