"""The synthetic section of a profile: mvlib's urban sensor network and its world.

:class:`SynthConfig` sizes the network (:mod:`mvlib.data.synth`) and sets how its sensors'
channels differ: linear colouring, and the *world parameters* (:data:`WORLD_FIELDS`), how
strongly their recording devices compress, clip, band-limit and add noise
(:mod:`mvlib.data.synth.device`). World parameters at 0 are left out of the section's dict
and repr (:func:`absent_world`), so that a network without devices keeps the names (sets,
stores, runs) it had without these fields.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

__all__ = ["SYNTH_RANGES", "WORLD_FIELDS", "SynthConfig", "absent_world"]


@dataclass(frozen=True)
class SynthConfig:
    """The synthetic urban sensor network (see :mod:`mvlib.data.synth`)."""

    n_sensors: int = 56
    clips_per_sensor: int = 40
    duration_s: float = 5.0
    sample_rate: int = 22050  #: native rate of the written wav files
    #: how far sensors' channels differ (0: identical); 0.45 / 0.5 calibrated so that a
    #: linear log-mel probe on 12 held-out sensors gets sensor acc ~0.7, Jaccard ~0.58
    channel_spread: float = 0.45
    channel_drift: float = 0.6  #: clip-to-clip drift of a sensor's channel
    background_db: float = -30.0  #: background noise level re. full scale
    source_snr_db: float = 10.0  #: mean source level above the background
    max_sources: int = 3  #: 0..max_sources sources per clip
    prior_concentration: float = 5.0  #: sensors' source priors (higher: more alike)
    n_volunteers: int = 3
    volunteer_miss: float = 0.15
    volunteer_false_alarm: float = 0.01
    split_fractions: tuple[float, float, float] = (0.6, 0.2, 0.2)  #: SONYC 'split' column
    seed: int = 0
    #: the world: how strongly sensors' recording devices differ beyond linear colouring,
    #: each a strength in [0, 1] drawn per sensor (0: absent; :mod:`mvlib.data.synth.device`)
    self_noise: float = 0.0  #: microphone self-noise (coloured hiss before the microphone)
    compression: float = 0.0  #: automatic gain control (compressor ratio and threshold)
    clipping: float = 0.0  #: converter clipping level
    band_limit: float = 0.0  #: converter low-pass corner (narrow-band sensors)
    noise_floor: float = 0.0  #: converter noise floor

    def __repr__(self) -> str:  # world parameters at 0 left out, as in to_dict
        shown = (f.name for f in fields(self) if not absent_world(self, f.name))
        return f"SynthConfig({', '.join(f'{n}={getattr(self, n)!r}' for n in shown)})"


#: the world parameters of :class:`SynthConfig`; a config's hash leaves out those at 0, so
#: that a config whose world parameters are all 0 has the hash, and so the set, store and run
#: names, of the same config without these fields
WORLD_FIELDS = ("self_noise", "compression", "clipping", "band_limit", "noise_floor")


def absent_world(obj: Any, name: str) -> bool:
    """Is ``name`` a world parameter of a SynthConfig at 0 (no device)?"""
    return isinstance(obj, SynthConfig) and name in WORLD_FIELDS and getattr(obj, name) == 0


#: (section class, field) -> (test, wanted) of the synthetic section (as in mvlib.core.config)
SYNTH_RANGES: dict[tuple[str, str], tuple[Any, str]] = {
    ("SynthConfig", "n_sensors"): (lambda v: v >= 1, ">= 1"),
    ("SynthConfig", "clips_per_sensor"): (lambda v: v >= 1, ">= 1"),
    ("SynthConfig", "duration_s"): (lambda v: v > 0, "> 0"),
    ("SynthConfig", "sample_rate"): (lambda v: v >= 8000, ">= 8000 Hz"),
    ("SynthConfig", "channel_spread"): (lambda v: v >= 0, ">= 0"),
    ("SynthConfig", "channel_drift"): (lambda v: v >= 0, ">= 0"),
    ("SynthConfig", "max_sources"): (lambda v: 0 <= v <= 8, "in 0..8"),
    ("SynthConfig", "prior_concentration"): (lambda v: v > 0, "> 0"),
    ("SynthConfig", "n_volunteers"): (lambda v: v >= 1, ">= 1"),
    ("SynthConfig", "volunteer_miss"): (lambda v: 0 <= v <= 1, "in [0, 1]"),
    ("SynthConfig", "volunteer_false_alarm"): (lambda v: 0 <= v <= 1, "in [0, 1]"),
    ("SynthConfig", "split_fractions"): ("fractions", "3 fractions >= 0 summing to 1"),
    ("SynthConfig", "self_noise"): (lambda v: 0 <= v <= 1, "in [0, 1]"),
    ("SynthConfig", "compression"): (lambda v: 0 <= v <= 1, "in [0, 1]"),
    ("SynthConfig", "clipping"): (lambda v: 0 <= v <= 1, "in [0, 1]"),
    ("SynthConfig", "band_limit"): (lambda v: 0 <= v <= 1, "in [0, 1]"),
    ("SynthConfig", "noise_floor"): (lambda v: 0 <= v <= 1, "in [0, 1]"),
}
