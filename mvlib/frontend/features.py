"""Audio to (frames, D) features: the names of the frontend layer, gathered in one place.

Each concept lives in its own module; this module re-exports their names, so that
``from mvlib.frontend.features import make_frontend`` keeps working:

- :mod:`mvlib.frontend.audio`: reading audio files (:func:`load_audio`, :class:`BadAudioError`);
- :mod:`mvlib.frontend.preprocess`: resampling, loudness normalisation, padding (paper 3.2);
- :mod:`mvlib.frontend.interface`: the :class:`Frontend` interface;
- :mod:`mvlib.frontend.logmel`: :class:`LogMelFrontend`;
- :mod:`mvlib.frontend.dac_frontend`: :class:`DACFrontend`;
- :mod:`mvlib.frontend.dac_weights`: finding and checking DAC weights (:class:`WeightsError`);
- :mod:`mvlib.frontend.choice`: :func:`make_frontend` (the registry) and ``auto``.
"""

from __future__ import annotations

from mvlib.frontend.audio import BadAudioError, load_audio, mono_downmix, wav_truncation
from mvlib.frontend.choice import frontend_name, make_frontend, resolve_frontend
from mvlib.frontend.dac_frontend import COMPILE_SNAKE_AFTER_S, DACFrontend
from mvlib.frontend.dac_weights import (
    DAC_CACHE_FILE,
    DAC_OFFICIAL_TAG,
    WEIGHTS_ENV,
    WeightsError,
    check_state_dict,
    find_dac_weights,
    load_dac_weights,
    random_dac,
    real_dac_weights_available,
)
from mvlib.frontend.interface import Frontend, resolve_device, state_dict_sha256
from mvlib.frontend.logmel import LOGMEL_EPS, LOGMEL_N_FFT, LogMelFrontend
from mvlib.frontend.preprocess import (
    LOUDNESS_BLOCK_S,
    PREPROCESS_VERSION,
    RESAMPLE_KW,
    n_frames,
    preprocess,
    preprocess_batch,
    preprocess_with_info,
    resample,
)

__all__ = [
    "COMPILE_SNAKE_AFTER_S",
    "DAC_CACHE_FILE",
    "DAC_OFFICIAL_TAG",
    "LOGMEL_EPS",
    "LOGMEL_N_FFT",
    "LOUDNESS_BLOCK_S",
    "PREPROCESS_VERSION",
    "RESAMPLE_KW",
    "WEIGHTS_ENV",
    "BadAudioError",
    "DACFrontend",
    "Frontend",
    "LogMelFrontend",
    "WeightsError",
    "check_state_dict",
    "find_dac_weights",
    "frontend_name",
    "load_audio",
    "load_dac_weights",
    "make_frontend",
    "mono_downmix",
    "n_frames",
    "preprocess",
    "preprocess_batch",
    "preprocess_with_info",
    "random_dac",
    "real_dac_weights_available",
    "resample",
    "resolve_device",
    "resolve_frontend",
    "state_dict_sha256",
    "wav_truncation",
]
