"""Experiment configuration: frozen dataclasses, read from YAML only here.

A profile is a YAML file under ``params/`` (``base.yml`` holds every field;
``default.yml``, ``paper.yml`` and ``ci.yml`` override a few). A profile may
name its parent with ``inherits: <file>``; mappings are merged recursively.
The resolved :class:`Config` serialises with :func:`to_dict` and is saved in
every store, checkpoint and result file, so that :func:`from_dict` rebuilds it.

Overrides use dotted keys, e.g. ``{"objective.objective": "cos_minus"}``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, is_dataclass
from pathlib import Path
from typing import Any

import yaml

from mvlib.core.cache import atomic_write_text
from mvlib.core.codec_config import CODEC_RANGES, CodecConfig
from mvlib.core.errors import MvlibError
from mvlib.core.registry import FRONTENDS, OBJECTIVES, load_plugins
from mvlib.core.resources import params_dir
from mvlib.core.synth_config import SYNTH_RANGES, SynthConfig, absent_world

#: the named profiles: the checkout's ``params/``, or their copy inside an installed wheel
PARAMS_DIR = params_dir()
PROFILE_ENV = "MVLIB_PROFILE"
DEFAULT_PROFILE = "default"


class ConfigError(MvlibError, ValueError):
    """A profile or an override that does not fit the configuration schema.

    ``culprit`` is the field path (``train.epochs``) or the profile file.
    """

    def __init__(self, culprit, what: str, fix: str = ""):
        super().__init__(culprit, what, fix)


@dataclass(frozen=True)
class DataConfig:
    """Which dataset: our synthetic SONYC-format set, or the real SONYC-UST-V2."""

    source: str = "synth"  #: "synth" | "sonyc"
    root: str | None = None  #: dataset folder; None: the cache's synth folder
    check_audio: bool = True  #: every annotated clip must have its audio file
    #: True: refuse clips without usable labels (validate/test without a verified row, train
    #: without a volunteer row, no annotation columns) instead of keeping them unlabelled
    strict: bool = False


@dataclass(frozen=True)
class SplitConfig:
    """Sensor-disjoint multi-view splits, pairs and downstream partitions (paper 3.1)."""

    #: fractions of sensors for multi-view train / val / held-out (paper: 39/5/12 of 56)
    sensor_fractions: tuple[float, float, float] = (39 / 56, 5 / 56, 12 / 56)
    #: same-sensor pairs of different clips per split (paper: 39k/6k/11k)
    n_pairs: tuple[int, int, int] = (39000, 6000, 11000)
    #: downstream train / val / test fractions of the held-out sensors' clips
    downstream_fractions: tuple[float, float, float] = (0.6, 0.2, 0.2)
    seed: int = 0
    #: how view pairs are drawn: "uniform" over all same-sensor pairs (the paper: a sensor's
    #: share grows with its clips squared) or "balanced" (the same number per sensor)
    pair_sampling: str = "uniform"
    #: seed of the view pairs only (None: ``seed``); the sweep sets it to the run's seed so
    #: that seeds vary pair sampling too while sensors and downstream partitions stay fixed
    pair_seed: int | None = None


@dataclass(frozen=True)
class FeatureConfig:
    """The frontend that turns audio into (frames, D) features (paper 3.2)."""

    #: "dac" | "logmel" | "auto" | a registered plugin's name (auto: dac when pretrained weights
    #: are on disk, else logmel; resolved by :func:`mvlib.frontend.choice.resolve_frontend` when
    #: the profile is loaded for use, so results always name the concrete frontend)
    frontend: str = "logmel"
    sample_rate: int = 44100
    loudness_lufs: float = -24.0  #: paper: -24 (DAC's own compress uses -16)
    hop: int = 512  #: DAC's hop; log-mel uses the same for equal frame counts
    n_mels: int = 128
    dac_weights: str | None = None  #: path; else $MVLIB_DAC_WEIGHTS, the dac cache
    allow_random_dac: bool = True  #: False: stop when no real weights are found
    dac_seed: int = 0  #: seed of the random-init DAC weights
    max_clips: int | None = None  #: extract only the first N clips (a subset)
    #: chapter 02: clips extracted with random-init DAC weights (a subset: ~1 CPU-s per audio-s)
    random_dac_clips: int = 48
    batch_size: int = 4
    device: str = "auto"  #: "auto" | "cpu" | "cuda" | "cuda:N"
    on_bad_audio: str = "skip"  #: "skip" (listed) | "fail"
    #: DAC encoder precision: "fp32" (same function as stock, error << float16 storage) |
    #: "bf16" (autocast; measured effect in benchmarks/extract.py) | "auto" (bf16 where the
    #: hardware has it: recent GPU, AVX-512 BF16/AMX CPU). Recorded in the store identity.
    precision: str = "fp32"


@dataclass(frozen=True)
class ModelConfig:
    """Encoder/decoder architecture and the method (paper 2.1, 3.6)."""

    method: str = "multiview"  #: multiview | singleview | contrastive | supervised
    hidden: int = 512  #: hidden width of the per-frame MLPs
    depth: int = 2  #: linear layers in encoder and in decoder
    activation: str = "gelu"  #: gelu | relu | tanh
    dropout: float = 0.0
    supervised_task: str = "source"  #: supervised baseline: "source" | "sensor"


@dataclass(frozen=True)
class ObjectiveConfig:
    """Self-supervised objective on top of the backbone (paper 2.2)."""

    objective: str = "rec"  #: rec | cos_minus | cos_plus | mask
    level: str = "sample"  #: sample (eqs. 2, 3) | batch (eqs. 4, 5)
    temperature: float = 1.0  #: tau of eq. 4 (batch-level cos+)
    nce_temperature: float = 0.1  #: tau of the contrastive baseline's InfoNCE
    time_reduce: str = "mean"  #: (B,T,D)->(B,D) before cosine losses: mean | flatten
    cos_weight: float = 1.0  #: L_total = L_rec + cos_weight * L_cos (paper: 1)
    mask_ratio: float = 0.4
    mask_target: str = "private"  #: private | shared


@dataclass(frozen=True)
class TrainConfig:
    """Training recipe (paper 3.3)."""

    epochs: int = 100
    #: the GLOBAL batch: under torchrun each of N ranks takes ~batch_size/N of it
    batch_size: int = 16
    lr: float = 1e-3  #: the learning rate of the global batch (never rescaled by rank count)
    weight_decay: float = 0.01
    crop_frames: int | None = None  #: random crop of T frames per view; None: whole clip
    seed: int = 0
    device: str = "auto"
    num_workers: int = 0
    max_steps_per_epoch: int | None = None
    #: torch CPU threads while training (None: torch's default). Small per-frame MLPs run
    #: faster on one thread, and the sweep runs several trainings side by side.
    threads: int | None = None
    #: early stopping: stop after this many epochs without a lower validation loss
    #: (None: run every epoch); the best checkpoint is always the best validation epoch
    patience: int | None = None
    #: exactly this many optimiser steps per epoch for every method (the training set is
    #: cycled or cut), so that methods get the same budget: epochs x steps_per_epoch steps
    #: at most. None: one pass over the training set (capped by max_steps_per_epoch)
    steps_per_epoch: int | None = None
    #: an epoch counts as better (new best checkpoint, patience reset) only when it lowers
    #: the best validation loss by more than this fraction of it (0: any decrease)
    min_delta: float = 0.0
    #: learning-rate schedule over the budget of epochs x steps per epoch: "constant", or
    #: "cosine" (linear warm-up over ``warmup_steps``, then cosine decay to 0 at the end of
    #: the budget), so that a run converges within its budget and validation plateaus
    schedule: str = "constant"
    warmup_steps: int = 0


@dataclass(frozen=True)
class ProbeConfig:
    """Downstream 2-layer MLP probes (paper 3.4, 3.5)."""

    hidden: int = 256
    epochs: int = 100
    lr: float = 1e-3
    batch_size: int = 64
    weight_decays: tuple[float, ...] = (1e-4, 1e-2)
    dropout: float = 0.1
    seed: int = 0
    #: stop a weight decay's run after this many epochs without a better val score
    patience: int | None = 20


@dataclass(frozen=True)
class SweepConfig:
    """The ablation sweep of Tables 1 and 2 (paper 4)."""

    seeds: tuple[int, ...] = (0, 1, 2)
    mask_ratios: tuple[float, ...] = (0.2, 0.4, 0.6, 0.8)
    workers: int = 1
    #: split seeds (split.seed: sensor split and downstream partition) crossed with ``seeds``;
    #: () keeps the profile's split.seed (one split)
    split_seeds: tuple[int, ...] = ()


@dataclass(frozen=True)
class Config:
    """One resolved experiment configuration."""

    profile: str = "base"
    #: modules (or ``.py`` files) that register objectives/frontends, imported before the
    #: config is validated (see :mod:`mvlib.core.registry` and book/extending.md)
    plugins: tuple[str, ...] = ()
    data: DataConfig = field(default_factory=DataConfig)
    synth: SynthConfig = field(default_factory=SynthConfig)
    split: SplitConfig = field(default_factory=SplitConfig)
    features: FeatureConfig = field(default_factory=FeatureConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    objective: ObjectiveConfig = field(default_factory=ObjectiveConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    probe: ProbeConfig = field(default_factory=ProbeConfig)
    sweep: SweepConfig = field(default_factory=SweepConfig)
    codec: CodecConfig = field(default_factory=CodecConfig)

    def replace(self, overrides: Mapping[str, Any]) -> Config:
        """Return a copy with dotted-key overrides applied (``"train.seed": 3``)."""
        data = to_dict(self, complete=True)
        for key, value in overrides.items():
            _set_dotted(data, key, value)
        return from_dict(data)


def to_dict(obj: Any, complete: bool = False) -> Any:
    """Plain, JSON/YAML-serialisable dict of a config (tuples become lists).

    A :class:`SynthConfig`'s world parameters at 0
    (:data:`mvlib.core.synth_config.WORLD_FIELDS`) are left out
    unless ``complete``: a config without devices has the dict, and so the hashes, saved
    configs, set manifests and codec identity, of the same config without these fields;
    :func:`from_dict` reads them back as 0.
    """
    if is_dataclass(obj):
        return {
            f.name: to_dict(getattr(obj, f.name), complete)
            for f in fields(obj)
            if complete or not absent_world(obj, f.name)
        }
    if isinstance(obj, (list, tuple)):
        return [to_dict(v, complete) for v in obj]
    return obj


def from_dict(data: Mapping[str, Any], cls: type = Config, where: str = "") -> Any:
    """Build a (nested) config dataclass from a dict, rejecting unknown keys."""
    if not isinstance(data, Mapping):
        raise ConfigError(where or "config", f"expected a mapping, got {data!r}", _FIX)
    known = {f.name: f for f in fields(cls)}
    if cls is Config and data.get("plugins"):
        load_plugins(_coerce(data["plugins"], known["plugins"], "plugins"))
    unknown = sorted(set(data) - set(known))
    if unknown:
        raise ConfigError(
            where or "config", f"unknown key(s) {unknown}", f"expected one of {sorted(known)}"
        )
    kwargs = {}
    for name, value in data.items():
        f = known[name]
        sub = _SECTIONS.get(name) if cls is Config else None
        path = f"{where}.{name}" if where else name
        if sub is not None:
            kwargs[name] = from_dict(value or {}, sub, path)
        else:
            kwargs[name] = _coerce(value, f, path)
            choices = _CHOICES.get((cls.__name__, name))
            registry = _REGISTERED.get((cls.__name__, name))
            if registry is not None and kwargs[name] in registry:
                pass  # a name registered by a plugin
            elif choices is not None and kwargs[name] not in choices:
                extra = [n for n in (registry.names() if registry else []) if n not in choices]
                fix = _FIX + (
                    "; or register it (plugins:), see book/extending.md" if registry else ""
                )
                raise ConfigError(path, f"{value!r} is not one of {list(choices) + extra}", fix)
    out = cls(**kwargs)
    check_ranges(out, where)
    return out


def config_hash(obj: Any, n: int = 10) -> str:
    """Short stable hash of a config (or section): names cached artefacts.

    A :class:`Config`'s hash leaves out what changes none of its runs: an empty ``plugins``
    list, and the ``codec`` section (a codec training has its own identity,
    :func:`mvlib.ml.codec.trainer.codec_identity`; a run on a codec's latents is named by
    its weights, :func:`mvlib.ml.runs.run_hash`).
    """
    data = to_dict(obj)
    if isinstance(obj, Config):
        data.pop("codec")
        if not obj.plugins:
            data.pop("plugins")
    blob = json.dumps(data, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:n]


def profile_path(profile: str | os.PathLike) -> Path:
    """The file of a profile name (``ci``) or path (``params/ci.yml``)."""
    p = Path(profile)
    if p.suffix in (".yml", ".yaml") and p.exists():
        return p
    cand = PARAMS_DIR / f"{profile}.yml"
    if cand.exists():
        return cand
    names = sorted(x.stem for x in PARAMS_DIR.glob("*.yml"))
    raise ConfigError(
        str(profile),
        f"no profile {str(profile)!r}: not a YAML file, and not one of {names} in {PARAMS_DIR}",
        "give a profile name from that list or the path of a .yml file",
    )


def read_profile(
    profile: str | os.PathLike | None = None, overrides: Mapping[str, Any] | None = None
) -> Config:
    """Read a profile (None: ``$MVLIB_PROFILE`` or ``default``) and apply overrides, as
    written: ``features.frontend: auto`` stays ``auto``. What users call is
    :func:`mvlib.load_config` (in :mod:`mvlib.frontend.choice`), which also resolves the
    frontend: resolving ``auto`` looks for DAC weights and reads a weights file's rates with
    torch, which core, below the frontend layer, does not import.

    Parameters
    ----------
    profile : a profile name (``ci``, ``default``, ``paper``: the files of ``params/``) or
        the path of a YAML file (``inherits: ci`` in it starts from a named one)
    overrides : dotted keys to values, e.g. ``{"train.epochs": 1}`` (as ``--set`` does)

    Returns
    -------
    Config
        The validated, frozen configuration; :class:`ConfigError` (one line) if it does not
        fit. ``features.frontend: auto`` is left as it is: the frontend layer resolves it
        (:func:`mvlib.frontend.choice.load_config`: ``mvlib.load_config`` is that function,
        and the CLI calls it).

    Examples
    --------
    >>> cfg = read_profile("ci", {"train.epochs": 1})
    >>> cfg.train.epochs
    1
    """
    if profile is None:
        profile = os.environ.get(PROFILE_ENV) or DEFAULT_PROFILE
    path = profile_path(profile)
    data = _read_profile(path, seen=())
    data["profile"] = path.stem
    cfg = from_dict(data)
    return cfg.replace(overrides) if overrides else cfg


def save_yaml(cfg: Config, path: str | os.PathLike) -> None:
    """Write the resolved config as YAML (atomically)."""
    atomic_write_text(path, yaml.safe_dump(to_dict(cfg), sort_keys=False))


# --------------------------------------------------------------------------- internals

_SECTIONS = {
    "data": DataConfig,
    "synth": SynthConfig,
    "split": SplitConfig,
    "features": FeatureConfig,
    "model": ModelConfig,
    "objective": ObjectiveConfig,
    "train": TrainConfig,
    "probe": ProbeConfig,
    "sweep": SweepConfig,
    "codec": CodecConfig,
}

_CHOICES = {
    ("DataConfig", "source"): ("synth", "sonyc"),
    ("SplitConfig", "pair_sampling"): ("uniform", "balanced"),
    ("FeatureConfig", "frontend"): ("dac", "logmel", "auto"),
    ("FeatureConfig", "on_bad_audio"): ("skip", "fail"),
    ("FeatureConfig", "precision"): ("fp32", "bf16", "auto"),
    ("ModelConfig", "method"): ("multiview", "singleview", "contrastive", "supervised"),
    ("ModelConfig", "activation"): ("gelu", "relu", "tanh"),
    ("ModelConfig", "supervised_task"): ("source", "sensor"),
    ("ObjectiveConfig", "objective"): ("rec", "cos_minus", "cos_plus", "mask"),
    ("ObjectiveConfig", "level"): ("sample", "batch"),
    ("ObjectiveConfig", "time_reduce"): ("mean", "flatten"),
    ("ObjectiveConfig", "mask_target"): ("private", "shared"),
}

#: fields whose value may also be a name registered by a plugin
_REGISTERED = {
    ("ObjectiveConfig", "objective"): OBJECTIVES,
    ("FeatureConfig", "frontend"): FRONTENDS,
}


def _read_profile(path: Path, seen: tuple) -> dict:
    path = path.resolve()
    if path in seen:
        chain = " -> ".join(str(s) for s in (*seen, path))
        raise ConfigError(path, f"circular 'inherits' chain {chain}", "break the cycle")
    try:
        with open(path) as f:
            data = yaml.safe_load(f) or {}
    except yaml.YAMLError as e:
        what = "not valid YAML (" + " ".join(str(e).split()) + ")"
        raise ConfigError(path, what, "fix the file's syntax") from e
    if not isinstance(data, dict):
        raise ConfigError(path, "expected a YAML mapping at top level", "write `section: {...}`")
    _resolve_plugin_files(data, path)
    parent = data.pop("inherits", None)
    if parent is None:
        return data
    base = _read_profile(_parent_path(path, parent), seen + (path,))
    return _merge(base, data)


def _resolve_plugin_files(data: dict, path: Path) -> None:
    """Make ``plugins:`` entries that are ``.py`` files absolute (relative to the profile)."""
    plugins = data.get("plugins")
    if isinstance(plugins, list):
        data["plugins"] = [
            (
                str((path.parent / p).expanduser().resolve())
                if isinstance(p, str) and p.endswith(".py")
                else p
            )
            for p in plugins
        ]


def _parent_path(path: Path, parent: Any) -> Path:
    """``inherits:`` is a path relative to the inheriting file, or a profile name under params/."""
    if not isinstance(parent, str) or not parent.strip():
        raise ConfigError(path, f"inherits: {parent!r} is not a profile name or path", _FIX)
    rel = (path.parent / parent).expanduser()
    if rel.is_file():
        return rel
    named = PARAMS_DIR / f"{parent}.yml"
    if named.is_file():
        return named
    names = sorted(x.stem for x in PARAMS_DIR.glob("*.yml"))
    raise ConfigError(
        path,
        f"inherits: {parent!r} is neither a file beside it ({rel}) nor a profile in {names}",
        "name a profile under params/ (e.g. `inherits: ci`) or a path relative to this file",
    )


_FIX = "fix the profile or the --set override"

#: (section class, field) -> (test, wanted); each test is written positively so NaN fails it
_RANGES: dict[tuple[str, str], tuple[Any, str]] = {
    ("SplitConfig", "sensor_fractions"): ("positive_fractions", "3 fractions > 0 summing to 1"),
    ("SplitConfig", "n_pairs"): (lambda v: len(v) == 3 and min(v) >= 1, "3 counts, each >= 1"),
    ("SplitConfig", "downstream_fractions"): (
        "positive_fractions",
        "3 fractions > 0 summing to 1",
    ),
    ("FeatureConfig", "sample_rate"): (lambda v: v >= 8000, ">= 8000 Hz"),
    ("FeatureConfig", "hop"): (lambda v: v >= 1, ">= 1"),
    ("FeatureConfig", "n_mels"): (lambda v: v >= 1, ">= 1"),
    ("FeatureConfig", "max_clips"): (lambda v: v is None or v >= 1, ">= 1 or null"),
    ("FeatureConfig", "random_dac_clips"): (lambda v: v >= 0, ">= 0"),
    ("FeatureConfig", "batch_size"): (lambda v: v >= 1, ">= 1"),
    ("ModelConfig", "hidden"): (lambda v: v >= 1, ">= 1"),
    ("ModelConfig", "depth"): (lambda v: v >= 1, ">= 1"),
    ("ModelConfig", "dropout"): (lambda v: 0 <= v < 1, "in [0, 1)"),
    ("ObjectiveConfig", "temperature"): (lambda v: v > 0, "> 0"),
    ("ObjectiveConfig", "nce_temperature"): (lambda v: v > 0, "> 0"),
    ("ObjectiveConfig", "cos_weight"): (lambda v: v >= 0, ">= 0"),
    ("ObjectiveConfig", "mask_ratio"): (lambda v: 0 <= v < 1, "in [0, 1)"),
    ("TrainConfig", "epochs"): (lambda v: v >= 1, ">= 1"),
    ("TrainConfig", "batch_size"): (lambda v: v >= 1, ">= 1"),
    ("TrainConfig", "lr"): (lambda v: 0 < v < float("inf"), "> 0 and finite"),
    ("TrainConfig", "weight_decay"): (lambda v: v >= 0, ">= 0"),
    ("TrainConfig", "crop_frames"): (lambda v: v is None or v >= 1, ">= 1 or null"),
    ("TrainConfig", "num_workers"): (lambda v: v >= 0, ">= 0"),
    ("TrainConfig", "max_steps_per_epoch"): (lambda v: v is None or v >= 1, ">= 1 or null"),
    ("TrainConfig", "threads"): (lambda v: v is None or v >= 1, ">= 1 or null"),
    ("TrainConfig", "schedule"): (lambda v: v in ("constant", "cosine"), "constant or cosine"),
    ("TrainConfig", "warmup_steps"): (lambda v: v >= 0, ">= 0"),
    ("ProbeConfig", "hidden"): (lambda v: v >= 1, ">= 1"),
    ("ProbeConfig", "epochs"): (lambda v: v >= 1, ">= 1"),
    ("ProbeConfig", "lr"): (lambda v: 0 < v < float("inf"), "> 0 and finite"),
    ("ProbeConfig", "batch_size"): (lambda v: v >= 1, ">= 1"),
    ("ProbeConfig", "weight_decays"): (lambda v: len(v) >= 1 and min(v) >= 0, "a list of >= 0"),
    ("ProbeConfig", "dropout"): (lambda v: 0 <= v < 1, "in [0, 1)"),
    ("ProbeConfig", "patience"): (lambda v: v is None or v >= 1, ">= 1 or null"),
    ("SweepConfig", "seeds"): (lambda v: len(v) >= 1, "at least one seed"),
    ("SweepConfig", "mask_ratios"): (
        lambda v: len(v) >= 1 and all(0 <= r < 1 for r in v),
        "a list of values in [0, 1)",
    ),
    ("SweepConfig", "workers"): (lambda v: v >= 1, ">= 1"),
}
_RANGES.update(SYNTH_RANGES)
_RANGES.update(CODEC_RANGES)


def _fractions_ok(v: tuple, strict: bool) -> bool:
    ok = len(v) == 3 and all((x > 0) if strict else (x >= 0) for x in v)
    return ok and abs(sum(v) - 1.0) <= 1e-3


def check_ranges(section: Any, where: str = "") -> None:
    """Raise :class:`ConfigError` naming the first field of ``section`` out of its range."""
    cls = type(section).__name__
    for f in fields(section):
        rule = _RANGES.get((cls, f.name))
        if rule is None:
            continue
        test, wanted = rule
        value = getattr(section, f.name)
        if test in ("fractions", "positive_fractions"):
            ok = _fractions_ok(value, strict=test == "positive_fractions")
        else:
            ok = bool(test(value))
        if not ok:
            path = f"{where}.{f.name}" if where else f.name
            shown = list(value) if isinstance(value, tuple) else value
            raise ConfigError(path, f"{shown!r} is out of range, expected {wanted}", _FIX)


def _merge(base: dict, over: dict) -> dict:
    out = dict(base)
    for k, v in over.items():
        out[k] = _merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def _set_dotted(data: dict, key: str, value: Any) -> None:
    parts = key.split(".")
    node = data
    for p in parts[:-1]:
        if p not in node or not isinstance(node[p], dict):
            raise ConfigError(key, f"override {key!r}: no section {p!r}", _FIX)
        node = node[p]
    if parts[-1] not in node:
        raise ConfigError(key, f"override {key!r}: no field {parts[-1]!r}", f"have {sorted(node)}")
    node[parts[-1]] = value


def _coerce(value: Any, f: dataclasses.Field, path: str) -> Any:
    """Check a value against its field's annotated type; coerce lists to tuples."""
    t = str(f.type)
    if value is None:
        if "None" not in t:
            raise ConfigError(path, f"None is not allowed (type {t})", _FIX)
        return None
    if t.startswith("tuple"):
        if not isinstance(value, (list, tuple)):
            raise ConfigError(path, f"expected a list, got {value!r}", _FIX)
        inner = float if "float" in t else str if "str" in t else int
        try:
            return tuple(inner(v) for v in value)
        except (TypeError, ValueError) as e:
            what = f"expected a list of {inner.__name__}, got {value!r}"
            raise ConfigError(path, what, _FIX) from e
    for name, typ in (("bool", bool), ("int", int), ("float", float), ("str", str)):
        if t.startswith(name):
            if typ is float and isinstance(value, int) and not isinstance(value, bool):
                value = float(value)
            # bool is an int subclass: refuse it where a number is expected
            if (typ is not bool and isinstance(value, bool)) or not isinstance(value, typ):
                raise ConfigError(path, f"expected {t}, got {value!r}", _FIX)
            break
    return value
