"""DAC weights: finding, reading and checking a DAC-architecture codec's weights file.

Where mvlib looks, first found wins: ``features.dac_weights`` (a file, or the name of a codec
that ships with mvlib, :mod:`mvlib.frontend.codecs`); ``$MVLIB_DAC_WEIGHTS``; dac's cache
file ``~/.cache/descript/dac/weights_44khz_8kbps_0.0.1.pth``; ``dac.utils.download()`` (only
if github.com is reachable); else, if ``features.allow_random_dac``, a seeded random init of the
44.1 kHz / 8 kbps architecture (with a warning: such features are *not* the paper's).

A weights file is in dac's own format, ``{"state_dict": ..., "metadata": {"kwargs": ...}}``.
Its architecture is the ``dac.DAC`` keyword arguments of ``metadata["kwargs"]`` (none: the
44.1 kHz / 8 kbps model, as for dac's released weights), so the pretrained 44.1 kHz codec, the
codec that ships with mvlib and a user's own DAC checkpoint all load here. The file must hold
exactly the state-dict keys and shapes of that architecture (checked here, since
``dac.DAC.load`` loads with ``strict=False``). Every way a file can fail (missing, not a
weights file, other keys or shapes) is a :class:`WeightsError`: one line naming the file,
where mvlib found it, where it looks, and how to get the right file.
"""

from __future__ import annotations

import functools
import inspect
import os
import re
import socket
import warnings
from pathlib import Path

import torch

from mvlib.core.config import FeatureConfig
from mvlib.core.errors import MvlibError
from mvlib.frontend.codecs import SHIPPED_CODECS, shipped_codec

__all__ = [
    "DAC_CACHE_FILE",
    "DAC_OFFICIAL_TAG",
    "WEIGHTS_ENV",
    "WeightsError",
    "check_state_dict",
    "find_dac_weights",
    "find_dac_weights_source",
    "read_weights",
    "architecture",
    "arch_label",
    "import_dac",
    "load_dac_weights",
    "random_dac",
    "real_dac_weights_available",
    "weights_tag",
]

WEIGHTS_ENV = "MVLIB_DAC_WEIGHTS"
#: where ``dac.utils.download()`` keeps the 44.1 kHz / 8 kbps weights
DAC_CACHE_FILE = Path.home() / ".cache" / "descript" / "dac" / "weights_44khz_8kbps_0.0.1.pth"
DAC_OFFICIAL_TAG = "dac_44khz_8kbps_0.0.1"
_RELEASE = "https://github.com/descriptinc/descript-audio-codec/releases/tag/0.0.1"


class WeightsError(MvlibError):
    """DAC weights that are missing, unreadable, or do not fit the 44.1 kHz / 8 kbps model."""


def looked_in() -> str:
    """Where mvlib looks for DAC weights, in order (for error messages)."""
    return f"features.dac_weights, then ${WEIGHTS_ENV}, then dac's cache {DAC_CACHE_FILE}"


def import_dac():
    """The ``dac`` package, imported without its deprecation warnings (torch.jit, weight_norm).

    An optional heavy dependency (seconds to import): imported only when DAC is used.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        warnings.simplefilter("ignore", UserWarning)
        import dac  # optional heavy dependency: dac (slow to import; only for DAC)
    return dac


def weights_help(random_hint: bool = True) -> str:
    """How to get the right weights file, and where mvlib looks for it (one line)."""
    return (
        f"give the DAC 44.1 kHz 8 kbps weights (weights.pth of {_RELEASE}, or `python -m dac "
        f"download`) as features.dac_weights=<file> or ${WEIGHTS_ENV}=<file> (mvlib looks in "
        f"{looked_in()})"
        + (
            "; or set features.allow_random_dac=true for random-init features (not the paper's)"
            if random_hint
            else ""
        )
    )


def weights_tag(path: Path) -> str:
    """The weights' name in a frontend's identity: dac's official tag, a shipped codec's
    name, or ``file-<stem>``."""
    if path.name in (DAC_CACHE_FILE.name, "weights.pth"):
        return DAC_OFFICIAL_TAG  # dac's cache name / the 0.0.1 release asset's name
    shipped = {shipped_codec(n).resolve(): n for n in SHIPPED_CODECS}
    if path.resolve() in shipped:
        return shipped[path.resolve()]
    return "file-" + re.sub(r"[^A-Za-z0-9._-]+", "_", path.stem)


def find_dac_weights_source(cfg: FeatureConfig) -> tuple[Path | None, str]:
    """The weights file to use and where it was named (None when only a random init is left).

    Returns
    -------
    path : Path or None
    where : str
        ``"features.dac_weights"``, ``"$MVLIB_DAC_WEIGHTS"``, ``"dac's cache"``,
        ``"dac's download"``, or ``"random init"``.

    Raises
    ------
    WeightsError
        A named file that does not exist, or no weights at all with
        ``allow_random_dac=false``.
    """
    if cfg.dac_weights in SHIPPED_CODECS:
        return shipped_codec(cfg.dac_weights), f"the shipped codec {cfg.dac_weights}"
    for where, value in (
        ("features.dac_weights", cfg.dac_weights),
        (f"${WEIGHTS_ENV}", os.environ.get(WEIGHTS_ENV)),
    ):
        if value:
            p = Path(value).expanduser()
            if not p.is_file():
                what = "is a folder, not a file" if p.is_dir() else "no such file"
                raise WeightsError(value, f"{what} (named by {where})", weights_help())
            return p, where
    if DAC_CACHE_FILE.is_file():
        return DAC_CACHE_FILE, "dac's cache"
    downloaded = _try_download()
    if downloaded is not None:
        return downloaded, "dac's download"
    if cfg.allow_random_dac:
        return None, "random init"
    raise WeightsError(
        "DAC weights",
        f"none found (features.dac_weights and ${WEIGHTS_ENV} are unset, {DAC_CACHE_FILE} does "
        "not exist) and features.allow_random_dac is false",
        weights_help(),
    )


def find_dac_weights(cfg: FeatureConfig) -> Path | None:
    """The weights file to use, or None when only a random init is left (see the module)."""
    return find_dac_weights_source(cfg)[0]


def real_dac_weights_available(cfg: FeatureConfig) -> bool:
    """Whether pretrained DAC weights are on disk (path, $MVLIB_DAC_WEIGHTS or dac's cache).

    Never touches the network: this decides the ``frontend: auto`` profile quickly.
    """
    return bool(cfg.dac_weights or os.environ.get(WEIGHTS_ENV) or DAC_CACHE_FILE.is_file())


def _try_download(host: str = "github.com", timeout: float = 3.0) -> Path | None:
    # dac's download() calls requests.get without a timeout: probe the network first
    try:
        socket.create_connection((host, 443), timeout=timeout).close()
    except OSError:
        return None
    try:
        dac = import_dac()
        return Path(dac.utils.download(model_type="44khz", model_bitrate="8kbps", tag="0.0.1"))
    except Exception as e:  # noqa: BLE001 - any failure of the download: fall back
        warnings.warn(f"DAC weights download failed: {e}", stacklevel=3)
        return None


def random_dac(seed: int):
    """``dac.DAC()`` with seeded random weights (global RNG state left untouched)."""
    dac = import_dac()
    warnings.warn(
        f"No DAC weights found: using a RANDOMLY INITIALISED DAC encoder (seed {seed}). "
        "Its latents are NOT the paper's pretrained DAC features. " + weights_help(False),
        stacklevel=3,
    )
    with torch.random.fork_rng(devices=[]), warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # dac's weight_norm / jit deprecations
        torch.manual_seed(seed)
        return dac.DAC()


def _fix(where: str) -> str:
    found = f"found through {where}; " if where else ""
    return found + weights_help(random_hint=False)


def _unreadable(path: Path) -> str:
    """What a file that ``torch.load`` refuses holds, in a few words (no torch advice)."""
    try:
        size = path.stat().st_size
        with open(path, "rb") as f:
            head = f.read(512)
    except OSError as e:
        return f"cannot be read ({e.strerror or e})"
    if size == 0:
        return "is empty, not a PyTorch weights file"
    if head.startswith(b"PK"):
        kind = "a damaged or truncated zip archive"
    elif b"\0" not in head and all(32 <= c < 127 or c in b"\t\r\n" for c in head):
        kind = "a text file"
    else:
        kind = "unrecognised bytes"
    return f"is not a PyTorch weights file ({kind}, {size} bytes: torch.load cannot read it)"


def read_weights(path: str | os.PathLike, where: str = "") -> tuple[dict, dict]:
    """The state dict and metadata of a dac-format weights file (nothing built).

    Raises
    ------
    WeightsError
        Not loadable, or not dac's ``{"state_dict": ..., "metadata": ...}`` format.
    """
    path = Path(path)
    try:
        blob = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 - torch raises many types for a bad file
        raise WeightsError(path, _unreadable(path), _fix(where)) from e
    if not isinstance(blob, dict) or not isinstance(blob.get("state_dict"), dict):
        keys = sorted(map(str, blob))[:5] if isinstance(blob, dict) else type(blob).__name__
        raise WeightsError(
            path,
            f'holds {keys}, not dac\'s format {{"state_dict": ..., "metadata": ...}}',
            _fix(where),
        )
    meta = blob.get("metadata")
    return blob["state_dict"], meta if isinstance(meta, dict) else {}


def architecture(meta: dict, path: str | os.PathLike = "", where: str = "") -> dict:
    """The ``dac.DAC`` keyword arguments a file's metadata names ({}: the 44.1 kHz model).

    Only the arguments of ``dac.DAC``'s signature are kept (as ``dac.DAC.load`` does), with
    the 44.1 kHz model's values dropped (``latent_dim`` compared as dac computes it), so that
    equal architectures compare equal.
    """
    kwargs = meta.get("kwargs") or {}
    if not isinstance(kwargs, dict):
        raise WeightsError(path, f"metadata kwargs is {type(kwargs).__name__}", _fix(where))
    defaults = _effective(_dac_defaults())
    given = _effective({**_dac_defaults(), **{k: v for k, v in kwargs.items() if k in defaults}})
    return {
        k: (list(v) if isinstance(v, tuple) else v)
        for k, v in given.items()
        if k != "quantizer_dropout" and _differs(v, defaults[k])
    }


def _effective(kwargs: dict) -> dict:
    """``dac.DAC`` arguments as the model uses them: ``latent_dim=None`` computed."""
    out = dict(kwargs)
    if out.get("latent_dim") is None:
        out["latent_dim"] = int(out["encoder_dim"]) * 2 ** len(out["encoder_rates"])
    return out


def _differs(v, default) -> bool:
    """A tuple and a list of the same values do not differ."""
    return (list(v) if isinstance(v, tuple) else v) != (
        list(default) if isinstance(default, tuple) else default
    )


def arch_label(arch: dict) -> str:
    """The architecture in words: ``DAC 44.1 kHz 8 kbps`` or its differing arguments."""
    if not arch:
        return "DAC 44.1 kHz 8 kbps"
    return "DAC(" + ", ".join(f"{k}={v}" for k, v in sorted(arch.items())) + ")"


def load_dac_weights(path: str | os.PathLike, where: str = ""):
    """Load a DAC-architecture weights file, checking every key and shape.

    The file is dac's (audiotools') plain format ``{"state_dict": ..., "metadata": ...}``
    as written by ``model.save(path, package=False)``; the architecture is the metadata's
    ``kwargs`` (:func:`architecture`).

    Parameters
    ----------
    path : str or PathLike
        The weights file.
    where : str, optional
        Where it was named (``features.dac_weights``, ...): said in errors.

    Raises
    ------
    WeightsError
        Not loadable, not that format, an architecture dac cannot build, or missing /
        unexpected keys or wrong shapes.
    """
    path = Path(path)
    state, meta = read_weights(path, where)
    arch = architecture(meta, path, where)
    check_state_dict(state, _dac_shapes(tuple(sorted(_hashable(arch).items()))), path, where, arch)
    dac = import_dac()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # dac's deprecation warnings (weight_norm, jit)
        model = dac.DAC(**arch)
    model.load_state_dict(state, strict=True)
    model.metadata = meta
    return model


def _hashable(arch: dict) -> dict:
    return {k: tuple(v) if isinstance(v, list) else v for k, v in arch.items()}


@functools.lru_cache(maxsize=1)
def _dac_defaults() -> dict:
    """``dac.DAC``'s keyword arguments and their defaults."""
    dac = import_dac()
    return {
        k: p.default
        for k, p in inspect.signature(dac.DAC).parameters.items()
        if p.default is not inspect.Parameter.empty
    }


@functools.lru_cache(maxsize=4)
def _dac_shapes(arch: tuple = ()) -> dict[str, torch.Tensor]:
    """State dict of ``dac.DAC(**arch)`` on the meta device: names and shapes, no memory."""
    dac = import_dac()
    kwargs = {k: list(v) if isinstance(v, tuple) else v for k, v in arch}
    with warnings.catch_warnings(), torch.device("meta"):
        warnings.simplefilter("ignore")
        try:
            return dac.DAC(**kwargs).state_dict()
        except Exception as e:  # noqa: BLE001 - any argument dac cannot build
            raise WeightsError(
                "metadata kwargs", f"dac.DAC cannot build {arch_label(kwargs)} ({e})", ""
            ) from e


def check_state_dict(
    state: dict[str, torch.Tensor],
    expected: dict[str, torch.Tensor],
    path: str | os.PathLike,
    where: str = "",
    arch: dict | None = None,
) -> None:
    """Raise :class:`WeightsError` naming missing/unexpected keys and shape mismatches.

    ``arch`` is the architecture the file claims (:func:`architecture`; None or {}: the
    44.1 kHz model), named in the error.
    """
    what = f"not {arch_label(arch or {})} weights"
    not_tensors = sorted(str(k) for k, v in state.items() if not isinstance(v, torch.Tensor))
    if not_tensors:
        raise WeightsError(
            path,
            f"{what}: {len(not_tensors)} state_dict entries are not " f"tensors {not_tensors[:5]}",
            _fix(where),
        )
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    shapes = [
        f"{k}: {tuple(state[k].shape)} (expected {tuple(expected[k].shape)})"
        for k in sorted(set(state) & set(expected))
        if tuple(state[k].shape) != tuple(expected[k].shape)
    ]
    if missing or unexpected or shapes:
        parts = [
            f"{len(shapes)} wrong shape(s) {shapes[:5]}" if shapes else "",
            f"{len(missing)} missing key(s) {missing[:5]}" if missing else "",
            f"{len(unexpected)} unexpected key(s) {unexpected[:5]}" if unexpected else "",
        ]
        raise WeightsError(
            path,
            f"{what}: " + ", ".join(p for p in parts if p),
            _fix(where),
        )


def codec_rates(cfg: FeatureConfig) -> tuple[int, int] | None:
    """``(sample_rate, hop)`` of the weights ``cfg`` finds (None: random init, 44.1 kHz).

    Read from the file's metadata (:func:`architecture`), without building the model; the
    result is cached by file, size and modification time.
    """
    path, where = find_dac_weights_source(cfg)
    if path is None:
        return None
    st = path.stat()
    return _rates(str(path.resolve()), st.st_size, st.st_mtime_ns, where)


@functools.lru_cache(maxsize=8)
def _rates(path: str, size: int, mtime_ns: int, where: str) -> tuple[int, int]:
    arch = {**_dac_defaults(), **architecture(read_weights(path, where)[1], path, where)}
    hop = 1
    for r in arch["encoder_rates"]:
        hop *= int(r)
    return int(arch["sample_rate"]), hop
