"""The multi-view autoencoder (paper 2.1) and its baselines (paper 3.6).

Every model works frame by frame on frontend features ``x``: Tensor[B x T x D]
(DAC latents, D = 1024, or log-mel frames).

The "simple MLP"
    The paper does not give the MLP. Ours, :class:`MLP`, is ``depth`` Linear layers on
    the last axis with an activation (and dropout) between them and none at the output.
    Defaults (``ModelConfig``): depth 2, hidden 512, GELU, no dropout, so the encoder is
    D -> 512 -> D and the decoder D -> 512 -> D.

Multi-view autoencoder (:class:`MultiViewAE`)
    One encoder eps_phi, shared by both views, maps x_i to D outputs split into the
    private z_p,i (first D/2) and shared z_s,i (last D/2), each Tensor[B x T x D/2].
    ``z_S = (z_s,1 + z_s,2) / 2``; the decoder d_theta maps ``z_p,i (+) z_S`` (D) back to
    x_hat_i (D). With objective "mask", in training mode only, each view's decoder input
    has a fresh Bernoulli mask (ratio ``mask_ratio``) on its private part ``z_p,i``
    (``mask_target="private"``) or its shared part ``z_S`` (``"shared"``); the returned
    latents are unmasked. At inference one clip suffices: :meth:`MultiViewAE.embed`
    returns that clip's z_p and z_s.

Baselines on the same encoder
    * :class:`SingleViewAE`: one clip; the decoder sees the clip's own ``z_p (+) z_s``.
    * :class:`ContrastiveEncoder`: encoder only, one D-dim latent, no split, no decoder.
    * :class:`SupervisedModel`: encoder + one Linear head on the time-mean latent.
    * :class:`FrontendOnly`: no training; embeds the frontend features themselves.

Every model has ``.method`` and ``.embed(x) -> dict[str, Tensor[B x T x k]]``; the two
autoencoders also have ``.reconstruct(x) -> Tensor[B x T x D]`` (one clip, decoded from its
own ``z_p (+) z_s``). Callers put the model in eval mode and under
``torch.inference_mode()`` when extracting features.
:class:`TrainedEncoder` wraps a trained model as the module :func:`mvlib.load_model`
returns: ``Tensor[B x T x D_in] -> Tensor[B x T x D]``.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor, nn

from mvlib.core.config import Config, ModelConfig, ObjectiveConfig
from mvlib.ml.losses import autograd_safe, random_mask

ACTIVATIONS = {"gelu": nn.GELU, "relu": nn.ReLU, "tanh": nn.Tanh}
METHODS = ("multiview", "singleview", "contrastive", "supervised", "frontend")
#: the embeddings of a split model: z_p, z_s, or both (z_p ⊕ z_s)
SUBSPACES = ("z_p", "z_s", "both")


class MLP(nn.Sequential):
    """Per-frame MLP: ``depth`` Linear layers on the last axis, activation between them.

    Parameters
    ----------
    d_in, d_out : int
    hidden : int
        Width of the hidden layers (unused when depth is 1).
    depth : int
        Number of Linear layers, >= 1.
    activation : {"gelu", "relu", "tanh"}
    dropout : float
        Dropout after each hidden activation.
    """

    def __init__(
        self,
        d_in: int,
        d_out: int,
        hidden: int = 512,
        depth: int = 2,
        activation: str = "gelu",
        dropout: float = 0.0,
    ):
        assert depth >= 1, f"MLP depth must be >= 1, got {depth}"
        if activation not in ACTIVATIONS:
            raise ValueError(f"activation {activation!r} is not one of {list(ACTIVATIONS)}")
        widths = [d_in] + [hidden] * (depth - 1) + [d_out]
        layers: list[nn.Module] = []
        for i, (a, b) in enumerate(zip(widths[:-1], widths[1:])):
            layers.append(nn.Linear(a, b))
            if i < depth - 1:
                layers.append(ACTIVATIONS[activation]())
                if dropout > 0:
                    layers.append(nn.Dropout(dropout))
        super().__init__(*layers)


def _mlp(d_in: int, d_out: int, cfg: ModelConfig) -> MLP:
    return MLP(d_in, d_out, cfg.hidden, cfg.depth, cfg.activation, cfg.dropout)


class _FrameModel(nn.Module):
    """Shared input handling: shape check; inference tensors become trainable inputs."""

    method = ""

    def __init__(self, dim: int):
        super().__init__()
        assert dim >= 1, f"feature dimension must be >= 1, got {dim}"
        self.dim = dim

    def _input(self, x: Tensor, name: str = "x") -> Tensor:
        if x.dim() != 3 or x.shape[-1] != self.dim:
            raise ValueError(
                f"{type(self).__name__}: {name} must be Tensor[B x T x {self.dim}], "
                f"got shape {tuple(x.shape)}"
            )
        return autograd_safe(x)


class _SplitEncoder(_FrameModel):
    """Encoder whose D outputs split into private and shared halves."""

    def __init__(self, dim: int, cfg: ModelConfig):
        super().__init__(dim)
        if dim % 2:
            raise ValueError(
                f"{type(self).__name__}: feature dimension D={dim} must be even to split "
                f"into private and shared halves of D/2"
            )
        self.half = dim // 2
        self.encoder = _mlp(dim, dim, cfg)
        self.decoder = _mlp(dim, dim, cfg)

    def encode(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """One clip's latents: Tensor[B x T x D] -> (z_p, z_s), each Tensor[B x T x D/2]."""
        h = self.encoder(self._input(x))  # (B, T, D)
        return h[..., : self.half], h[..., self.half :]

    def embed(self, x: Tensor) -> dict[str, Tensor]:
        """Probe features of one clip: {"z_p", "z_s"}, each Tensor[B x T x D/2]."""
        z_p, z_s = self.encode(x)
        return {"z_p": z_p, "z_s": z_s}

    def reconstruct(self, x: Tensor) -> Tensor:
        """One clip's reconstruction: the decoder on the clip's own ``z_p ⊕ z_s``, unmasked.

        With one clip the multi-view model's joint shared embedding is the clip's own z_s
        (paper 2.1). Put the model in eval mode first (as for :meth:`embed`).

        Parameters
        ----------
        x : Tensor[B x T x D]

        Returns
        -------
        Tensor[B x T x D]
        """
        z_p, z_s = self.encode(x)
        return self.decoder(torch.cat([z_p, z_s], dim=-1))  # (B, T, D)


class MultiViewAE(_SplitEncoder):
    """Multi-view autoencoder with private/shared latent subspaces (paper 2.1).

    Parameters
    ----------
    dim : int
        Feature dimension D (even).
    cfg : ModelConfig
    obj : ObjectiveConfig, optional
        Only its masking fields are used here (objective "mask", mask_ratio,
        mask_target); default: no masking.
    """

    method = "multiview"

    def __init__(self, dim: int, cfg: ModelConfig, obj: ObjectiveConfig | None = None):
        super().__init__(dim, cfg)
        obj = obj or ObjectiveConfig()
        if obj.mask_target not in ("private", "shared"):
            raise ValueError(f"mask_target {obj.mask_target!r} is not 'private' or 'shared'")
        self.mask_ratio = obj.mask_ratio if obj.objective == "mask" else 0.0
        self.mask_target = obj.mask_target

    def _decode(self, z_p: Tensor, z_S: Tensor) -> Tensor:
        if self.training and self.mask_ratio > 0:
            if self.mask_target == "private":
                z_p = random_mask(z_p, self.mask_ratio)
            else:
                z_S = random_mask(z_S, self.mask_ratio)
        return self.decoder(torch.cat([z_p, z_S], dim=-1))  # (B, T, D)

    def forward(self, x1: Tensor, x2: Tensor) -> dict[str, Tensor]:
        """Encode both views, average their shared latents, reconstruct each view.

        Parameters
        ----------
        x1, x2 : Tensor[B x T x D]
            The two views (same B and T).

        Returns
        -------
        dict with x1_hat, x2_hat (Tensor[B x T x D]) and the unmasked latents z_p1, z_s1,
        z_p2, z_s2, z_S (Tensor[B x T x D/2]).
        """
        assert (
            x1.shape == x2.shape
        ), f"views differ in shape: {tuple(x1.shape)} vs {tuple(x2.shape)}"
        z_p1, z_s1 = self.encode(x1)
        z_p2, z_s2 = self.encode(x2)
        z_S = (z_s1 + z_s2) / 2
        return {
            "x1_hat": self._decode(z_p1, z_S),
            "x2_hat": self._decode(z_p2, z_S),
            "z_p1": z_p1,
            "z_s1": z_s1,
            "z_p2": z_p2,
            "z_s2": z_s2,
            "z_S": z_S,
        }


class SingleViewAE(_SplitEncoder):
    """Single-view autoencoder baseline: same encoder/decoder, one clip (paper 3.6)."""

    method = "singleview"

    def forward(self, x: Tensor) -> dict[str, Tensor]:
        """Tensor[B x T x D] -> {"x_hat": Tensor[B x T x D], "z_p", "z_s": Tensor[B x T x D/2]}."""
        z_p, z_s = self.encode(x)
        x_hat = self.decoder(torch.cat([z_p, z_s], dim=-1))  # (B, T, D)
        return {"x_hat": x_hat, "z_p": z_p, "z_s": z_s}


class ContrastiveEncoder(_FrameModel):
    """Contrastive baseline: the encoder alone, one D-dim latent (paper 3.6)."""

    method = "contrastive"

    def __init__(self, dim: int, cfg: ModelConfig):
        super().__init__(dim)
        self.encoder = _mlp(dim, dim, cfg)

    def forward(self, x1: Tensor, x2: Tensor) -> dict[str, Tensor]:
        """Two views Tensor[B x T x D] -> {"z1", "z2"}: Tensor[B x T x D]."""
        return {
            "z1": self.encoder(self._input(x1, "x1")),
            "z2": self.encoder(self._input(x2, "x2")),
        }

    def embed(self, x: Tensor) -> dict[str, Tensor]:
        """{"z": Tensor[B x T x D]}."""
        return {"z": self.encoder(self._input(x))}


class SupervisedModel(_FrameModel):
    """Supervised baseline: encoder + one Linear head on the time-mean latent (paper 3.6).

    Parameters
    ----------
    dim : int
    n_outputs : int
        Number of classes (8 sources, multi-label; or the sensors).
    cfg : ModelConfig
        ``cfg.supervised_task`` ("source" | "sensor") is kept as ``.task``.
    """

    method = "supervised"

    def __init__(self, dim: int, n_outputs: int, cfg: ModelConfig):
        super().__init__(dim)
        assert n_outputs >= 1, f"n_outputs must be >= 1, got {n_outputs}"
        if cfg.supervised_task not in ("source", "sensor"):
            raise ValueError(f"supervised_task {cfg.supervised_task!r} is not source|sensor")
        self.task = cfg.supervised_task
        self.encoder = _mlp(dim, dim, cfg)
        self.head = nn.Linear(dim, n_outputs)

    def forward(self, x: Tensor) -> Tensor:
        """Tensor[B x T x D] -> logits Tensor[B x n_outputs]."""
        return self.head(self.encoder(self._input(x)).mean(dim=1))  # (B, D) -> (B, C)

    def embed(self, x: Tensor) -> dict[str, Tensor]:
        """{"z": Tensor[B x T x D]} (encoder output, before the head)."""
        return {"z": self.encoder(self._input(x))}


class FrontendOnly(_FrameModel):
    """ "DAC only" baseline: no training, the frontend features are the embedding."""

    method = "frontend"

    def forward(self, x: Tensor) -> Tensor:
        return self._input(x)

    def embed(self, x: Tensor) -> dict[str, Tensor]:
        """{"x": x}, Tensor[B x T x D] unchanged."""
        return {"x": self._input(x)}


def build_model(
    method: str,
    dim: int,
    cfg: ModelConfig,
    obj: ObjectiveConfig | None = None,
    n_outputs: int | None = None,
) -> nn.Module:
    """Build the model of one method.

    Parameters
    ----------
    method : {"multiview", "singleview", "contrastive", "supervised", "frontend"}
        ("dac" is accepted for "frontend").
    dim : int
        Feature dimension D of the frontend.
    cfg : ModelConfig
    obj : ObjectiveConfig, optional
        Masking settings of the multi-view model.
    n_outputs : int, optional
        Classes of the supervised head (required for "supervised").
    """
    method = "frontend" if method == "dac" else method
    if method == "multiview":
        return MultiViewAE(dim, cfg, obj)
    if method == "singleview":
        return SingleViewAE(dim, cfg)
    if method == "contrastive":
        return ContrastiveEncoder(dim, cfg)
    if method == "supervised":
        if n_outputs is None:
            raise ValueError("build_model: method 'supervised' needs n_outputs (classes)")
        return SupervisedModel(dim, n_outputs, cfg)
    if method == "frontend":
        return FrontendOnly(dim)
    raise ValueError(f"method {method!r} is not one of {list(METHODS)}")


def trace_shapes(model: nn.Module, *inputs: Tensor) -> list[dict]:
    """The tensor shapes through one forward pass, one row per call of a leaf module.

    Parameters
    ----------
    model : nn.Module
    *inputs : Tensor
        The forward's inputs, e.g. the two views Tensor[B x T x D] of :class:`MultiViewAE`.

    Returns
    -------
    list of dict
        In call order (a module called once per view appears twice): ``module`` (its name
        in ``model``), ``layer`` (its class), ``input`` and ``output`` (shapes, as tuples)
        and ``parameters`` (its number of parameters).
    """
    names = {m: name for name, m in model.named_modules()}
    rows: list[dict] = []

    def record(module: nn.Module, args: tuple, out: Tensor) -> None:
        rows.append(
            {
                "module": names[module],
                "layer": type(module).__name__,
                "input": tuple(args[0].shape),
                "output": tuple(out.shape),
                "parameters": sum(p.numel() for p in module.parameters()),
            }
        )

    leaves = [m for m in model.modules() if next(m.children(), None) is None]
    hooks = [m.register_forward_hook(record) for m in leaves]
    try:
        with torch.no_grad():
            model(*inputs)
    finally:
        for h in hooks:
            h.remove()
    return rows


def pick_subspace(emb: dict, subspace: str = "both"):
    """One embedding out of a model's ``.embed`` dict (tensors or arrays alike).

    Parameters
    ----------
    emb : {"z_p", "z_s"} of a split model, each [... x D/2]; or the one entry of a model
        without a split ("z" of the contrastive and supervised models, "x" of the frontend)
    subspace : "z_p", "z_s" or "both" (z_p ⊕ z_s, [... x D]); a model without a split has
        one embedding, returned whatever is asked
    """
    if "z_p" in emb and "z_s" in emb:
        if subspace == "both":
            pair = [emb["z_p"], emb["z_s"]]
            if isinstance(pair[0], Tensor):
                return torch.cat(pair, dim=-1)
            return np.concatenate(pair, axis=-1)
        return emb[subspace]
    (only,) = emb.values()  # contrastive "z", supervised "z", frontend-only "x"
    return only


class TrainedEncoder(nn.Module):
    """A trained model's encoder: frontend frames in, embeddings out (:func:`mvlib.load_model`).

    Frame by frame, as the probes see it: for the autoencoders ``z_p`` and ``z_s``
    (``subspace``), else the one latent of the model. A clip's embedding is the time mean
    of its frames, ``encoder(x).mean(dim=1)`` (as the probes and ``mvlib embed`` take it).
    Frames come from the run's frontend (log-mel or DAC latents); :func:`mvlib.embed_files`
    applies frontend and encoder to audio files.

    Parameters
    ----------
    model : a trained model of :func:`build_model` (has ``.embed``), in eval mode
    subspace : "z_p", "z_s" or "both" (z_p ⊕ z_s; the default)
    config : the run's resolved Config (its frontend in ``config.features``), if known

    Attributes
    ----------
    model : nn.Module
        The trained model (the autoencoders' decoder included; ``model.method`` says which).
    subspace : str
    config : Config or None
    input_dim : int
        D_in, the frame size the encoder takes (the frontend's).
    dim : int
        D, the size of the embeddings returned.
    """

    def __init__(self, model: nn.Module, subspace: str = "both", config: Config | None = None):
        super().__init__()
        if subspace not in SUBSPACES:
            raise ValueError(f"subspace {subspace!r} is not one of {list(SUBSPACES)}")
        self.model = model
        self.subspace = subspace
        self.config = config
        self.train(model.training)  # the wrapper in the model's mode (eval once loaded)
        self.input_dim = int(model.dim)
        with torch.inference_mode():
            probe = torch.zeros(1, 1, self.input_dim, device=_device_of(model))
            self.dim = int(self(probe).shape[-1])

    @property
    def method(self) -> str:
        """The training method of the run (``multiview``, ``singleview``, …)."""
        return self.model.method

    def forward(self, x: Tensor) -> Tensor:
        """Embeddings of frontend frames.

        Parameters
        ----------
        x : Tensor[B x T x D_in]
            Frames of ``B`` clips (``D_in = input_dim``), on the encoder's device.

        Returns
        -------
        Tensor[B x T x D]
            One embedding per frame (``D = dim``). Call under ``torch.inference_mode()``
            to extract features, as the probes do.
        """
        return pick_subspace(self.model.embed(x), self.subspace)


def _device_of(model: nn.Module) -> torch.device:
    return next(model.parameters(), torch.empty(0)).device
