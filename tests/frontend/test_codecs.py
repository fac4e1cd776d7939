"""The codec that ships with mvlib: its file is what its provenance says, and dac reads it."""

from __future__ import annotations

import warnings

import torch

from mvlib.core.config import read_profile
from mvlib.frontend.choice import load_config, make_frontend
from mvlib.frontend.codecs import SHIPPED_CODECS, file_sha256, shipped_codec, shipped_provenance
from mvlib.ml.codec.model import codec_kwargs

NAME = "mvlib-codec-22khz"


def test_the_shipped_file_has_the_hash_its_provenance_records():
    assert NAME in SHIPPED_CODECS
    prov = shipped_provenance(NAME)
    path = shipped_codec(NAME)
    assert file_sha256(path) == prov["sha256"]
    assert path.stat().st_size == prov["bytes"]
    for key in ("commit", "command", "corpus", "step", "cpu_s", "machine", "date", "quality"):
        assert prov[key], key
    q = prov["quality"]
    assert {"mel_distance", "si_sdr_db", "sensor", "source", "logmel_sensor"} <= set(q)


def test_dac_loads_the_shipped_codec_with_the_architecture_of_its_profile():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import dac

    model = dac.DAC.load(str(shipped_codec(NAME)))
    want = codec_kwargs(read_profile("codec").codec)
    for k in ("encoder_dim", "latent_dim", "decoder_dim", "n_codebooks", "sample_rate"):
        assert getattr(model, k) == want[k], k
    assert list(model.encoder_rates) == want["encoder_rates"]
    prov = shipped_provenance(NAME)
    assert model.metadata["mvlib"]["step"] == prov["step"]
    assert f"--steps {prov['step']}" in prov["command"]
    x = 0.05 * torch.randn(1, 1, 22050)
    with torch.no_grad():
        z = model.encoder(model.preprocess(x, 22050))  # (1, 64, T)
    assert z.shape == (1, 64, 69) and torch.isfinite(z).all()


def test_the_codec_profile_runs_the_shipped_codec_as_its_frontend():
    cfg = load_config("codec", {"features.device": "cpu"})
    assert (cfg.features.sample_rate, cfg.features.hop) == (22050, 320)
    fe = make_frontend(cfg.features)
    assert fe.identity["weights"] == NAME and fe.dim == 64
    sha8 = fe.identity["weights_sha256"][:8]
    assert fe.tag == f"dac-{NAME}-{sha8}-sr22050-lufs-24"
