"""The synthetic sensor network's plan: sensors' channels and priors, and clips' sources.

Everything drawn before any audio is rendered: each sensor's microphone channel, background
and source prior (:func:`sensor_params`), its location (:func:`sensor_meta`) and dataset
split (:func:`sensor_dataset_splits`); each clip's sources, channel drift and time
(:func:`clip_plan`);
and the names of the set and its files.

Randomness: every clip draws from its own generator seeded by
``(seed, stream, sensor, clip)`` (:func:`stream_rng`), so a clip does not depend on the
order of generation and a resumed run writes bitwise the same files.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from mvlib.core.config import config_hash
from mvlib.core.synth_config import SynthConfig
from mvlib.data import taxonomy
from mvlib.data.synth.device import device_params

SYNTH_VERSION = "v1"
N_EQ_BANDS = 4
N_REFLECTIONS = 3
PROXIMITIES = ("near", "far", "notsure")
P_SILENT = 0.08  #: share of clips without any source
#: random-stream ids: keep sensor, plan, audio and annotation draws independent
SENSOR, PLAN, AUDIO, ANNOT, DATASET_SPLIT = 0, 1, 2, 3, 4
#: relative base rates of the 8 coarse classes (engine and voice common, as in SONYC)
BASE_RATES = np.array([0.22, 0.09, 0.12, 0.08, 0.14, 0.10, 0.16, 0.09])
#: minimum event duration per coarse class, seconds (barks and knocks can be short)
MIN_DUR_S = np.array([1.5, 1.0, 1.0, 1.2, 1.0, 1.5, 1.2, 0.6])
_BOROUGH_LATLON = {
    1: (40.78, -73.97),
    2: (40.84, -73.88),
    3: (40.65, -73.95),
    4: (40.73, -73.79),
    5: (40.58, -74.15),
}


@dataclass(frozen=True)
class SourceEvent:
    """One sound source in one clip.

    Attributes
    ----------
    coarse : int
        Coarse class 1..8 (taxonomy order).
    fine : str
        Fine class code within ``coarse`` (never ``"X"``: the synthesiser knows it).
    onset_s, dur_s : float
        Placement in the clip, seconds.
    snr_db : float
        Source RMS over its duration re. the background RMS, dB.
    proximity : str
        ``"near"`` or ``"far"`` (far sources are more reverberant).
    """

    coarse: int
    fine: str
    onset_s: float
    dur_s: float
    snr_db: float
    proximity: str


# --------------------------------------------------------------------------- names, seeds


def set_name(cfg: SynthConfig) -> str:
    """Folder name of the synthetic set of ``cfg``: ``synth-v1-<config_hash(cfg)>``.

    (A dataset's name in cache paths, for any folder, is
    :func:`mvlib.data.dataset.dataset_name`.)
    """
    return f"synth-{SYNTH_VERSION}-{config_hash(cfg)}"


def audio_filename(sensor: int, clip: int) -> str:
    """SONYC-style file name, e.g. ``07_000123.wav``."""
    return f"{sensor:02d}_{clip:06d}.wav"


def stream_rng(cfg: SynthConfig, stream: int, *ids: int) -> np.random.Generator:
    """The random generator of one stream (:data:`SENSOR` … :data:`DATASET_SPLIT`) and ids."""
    return np.random.default_rng([int(cfg.seed), stream, *ids])


@lru_cache(maxsize=16)
def fine_codes(coarse: int) -> tuple[str, ...]:
    """Fine class codes of a coarse class, without the uncertain ``X``."""
    return tuple(f for f in taxonomy.load_taxonomy()["fine"][coarse] if f != "X")


# --------------------------------------------------------------------------- sensors


def sensor_params(cfg: SynthConfig, sensor: int) -> dict[str, float]:
    """Draw one sensor's channel and source prior (flat dict of scalars).

    With ``channel_spread == 0`` every sensor gets the same channel (the base
    values); the source prior and location still differ.
    """
    rng = stream_rng(cfg, SENSOR, sensor)
    s = float(cfg.channel_spread)
    p: dict[str, float] = {}
    base_freqs = (200.0, 700.0, 2200.0, 5000.0)
    for k in range(N_EQ_BANDS):
        p[f"eq{k}_hz"] = base_freqs[k] * 2.0 ** (s * rng.uniform(-0.7, 0.7))
        p[f"eq{k}_gain_db"] = s * rng.normal(0.0, 4.0)
        p[f"eq{k}_q"] = 1.0 * 2.0 ** (s * rng.uniform(-1.0, 1.0))
    p["lowcut_hz"] = float(np.clip(80.0 * 2.0 ** (s * rng.normal(0.0, 1.0)), 20.0, 500.0))
    p["hicut_hz"] = float(np.clip(8000.0 * 2.0 ** (s * rng.normal(0.0, 0.4)), 3000.0, 10000.0))
    p["shelf_gain_db"] = s * rng.normal(0.0, 3.0)
    p["rt60_s"] = float(np.clip(0.4 * np.exp(s * rng.normal(0.0, 0.5)), 0.08, 1.5))
    p["drr_db"] = 4.0 + s * rng.normal(0.0, 4.0)
    for j, base in enumerate((3.0, 8.0, 17.0)):
        p[f"er{j}_ms"] = base * np.exp(s * rng.normal(0.0, 0.4))
        p[f"er{j}_gain"] = float(np.clip(0.4 + s * rng.uniform(-0.3, 0.3), 0.0, 0.95))
    p["noise_tilt_db_oct"] = -4.0 + s * rng.normal(0.0, 1.5)
    p["rumble_hz"] = 70.0 * 2.0 ** (s * rng.normal(0.0, 0.5))
    p["rumble_db"] = -3.0 + s * rng.normal(0.0, 4.0)
    p["background_offset_db"] = s * rng.normal(0.0, 3.0)
    hum = rng.uniform() < 0.35 * min(s, 1.0)
    p["hum_hz"] = float(rng.choice([50.0, 60.0]))
    p["hum_db"] = float(-12.0 + 4.0 * rng.normal()) if hum else -120.0  # re. background RMS
    p["hum_decay"] = float(rng.uniform(0.3, 0.8))  # amplitude ratio between harmonics
    prior = rng.dirichlet(cfg.prior_concentration * len(BASE_RATES) * BASE_RATES)
    for c, col in enumerate(taxonomy.coarse_label_columns()):
        p[f"prior_{col}"] = float(prior[c])
    p.update(device_params(cfg, stream_rng(cfg, SENSOR, sensor, 2)))  # {}: every world field at 0
    return {k: float(v) for k, v in p.items()}


@lru_cache(maxsize=1)
def _coarse_label_columns() -> tuple[str, ...]:
    return taxonomy.coarse_label_columns()


def sensor_meta(cfg: SynthConfig, sensor: int) -> dict:
    """Location metadata of a sensor (borough 1..5, block, latitude, longitude)."""
    rng = stream_rng(cfg, SENSOR, sensor, 1)
    borough = int(rng.integers(1, 6))
    lat, lon = _BOROUGH_LATLON[borough]
    return {
        "borough": borough,
        "block": int(rng.integers(1, 8000)),
        "latitude": round(lat + rng.normal(0, 0.02), 4),
        "longitude": round(lon + rng.normal(0, 0.02), 4),
    }


def sensor_dataset_splits(cfg: SynthConfig) -> dict[int, str]:
    """The dataset split of each sensor: whole sensors to SONYC's train/validate/test."""
    n = cfg.n_sensors
    fr = np.asarray(cfg.split_fractions, dtype=float)
    assert fr.shape == (3,) and np.all(fr >= 0) and fr.sum() > 0, f"bad split_fractions {fr}"
    fr = fr / fr.sum()
    n_val, n_test = (int(round(f * n)) for f in fr[1:])
    # keep every dataset split non-empty when there are enough sensors and it was asked for
    n_val = max(n_val, 1) if (fr[1] > 0 and n >= 3) else n_val
    n_test = max(n_test, 1) if (fr[2] > 0 and n >= 3) else n_test
    n_train = n - n_val - n_test
    assert n_train >= 0, f"split_fractions {cfg.split_fractions} leave no train sensors of {n}"
    order = stream_rng(cfg, DATASET_SPLIT).permutation(n)
    names = ["train"] * n_train + ["validate"] * n_val + ["test"] * n_test
    return {int(s): names[i] for i, s in enumerate(order)}


# --------------------------------------------------------------------------- clip plans

#: the channel drift of a clip (:func:`clip_plan`), in draw order
DRIFT_KEYS = (
    "drift_gain_db",
    *(f"drift_eq{k}_db" for k in range(N_EQ_BANDS)),
    "drift_tilt_db_oct",
    "drift_rt60_factor",
    "drift_background_db",
    "drift_rumble_db",
)


def clip_plan(cfg: SynthConfig, sensor: int, clip: int, params: dict) -> dict:
    """Draw one clip's sources, channel drift and time metadata (no audio).

    Returns
    -------
    dict
        ``sources`` (list of :class:`SourceEvent`), ``drift`` (dict of
        :data:`DRIFT_KEYS`), ``meta`` (year, week, day, hour).
    """
    rng = stream_rng(cfg, PLAN, sensor, clip)
    d = float(cfg.channel_drift)
    drift = {"drift_gain_db": d * rng.normal(0.0, 6.0)}
    for k in range(N_EQ_BANDS):
        drift[f"drift_eq{k}_db"] = d * rng.normal(0.0, 2.0)
    drift["drift_tilt_db_oct"] = d * rng.normal(0.0, 1.0)
    drift["drift_rt60_factor"] = float(np.exp(d * rng.normal(0.0, 0.3)))
    drift["drift_background_db"] = d * rng.normal(0.0, 4.0)
    drift["drift_rumble_db"] = d * rng.normal(0.0, 4.0)
    prior = np.array([params[f"prior_{c}"] for c in _coarse_label_columns()])
    # street clips are rarely silent: 0 sources with P_SILENT, else 1..max_sources
    silent = rng.uniform() < P_SILENT or cfg.max_sources == 0
    n_src = 0 if silent else int(rng.integers(1, cfg.max_sources + 1))
    classes = rng.choice(8, size=min(n_src, 8), replace=False, p=prior) + 1
    sources = []
    dur = float(cfg.duration_s)
    for c in sorted(int(x) for x in classes):
        fine = str(rng.choice(fine_codes(c)))
        lo = min(MIN_DUR_S[c - 1], dur)
        ev_dur = float(rng.uniform(lo, dur))
        onset = float(rng.uniform(0.0, dur - ev_dur))
        snr = float(cfg.source_snr_db + rng.normal(0.0, 4.0))
        prox = "near" if snr >= cfg.source_snr_db else "far"
        sources.append(SourceEvent(c, fine, onset, ev_dur, snr, prox))
    meta = {
        "year": int(rng.integers(2016, 2020)),
        "week": int(rng.integers(0, 53)),
        "day": int(rng.integers(0, 7)),
        "hour": int(rng.integers(0, 24)),
    }
    return {"sources": sources, "drift": {k: float(v) for k, v in drift.items()}, "meta": meta}


def apply_drift(params: dict, drift: dict) -> dict:
    """A clip's effective channel: the sensor's parameters moved by the clip's drift."""
    p = dict(params)
    for k in range(N_EQ_BANDS):
        p[f"eq{k}_gain_db"] += drift[f"drift_eq{k}_db"]
    p["noise_tilt_db_oct"] += drift["drift_tilt_db_oct"]
    p["rt60_s"] *= drift["drift_rt60_factor"]
    p["background_offset_db"] += drift["drift_background_db"]
    p["rumble_db"] += drift["drift_rumble_db"]
    p["gain_db"] = drift["drift_gain_db"]
    return p
