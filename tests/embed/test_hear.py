"""The HEAR-2021 API (mvlib.embed.hear): the checks hear-validator makes, and more.

hear-validator itself imports tensorflow, so it is run outside the test suite (README); these
tests repeat its checks: attributes and their types, float32, shapes for several batch sizes
and lengths (its 1.07 s, 1.98 s, 4.0 s and 2.74 s, a clip shorter than one window and one
shorter than the loudness block), timestamps regular and inside the sound, batch
independence, and the device the audio is on.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from tiny_run import N_MELS, make_run

from mvlib.core.errors import MvlibError
from mvlib.embed import hear
from mvlib.frontend.logmel import LOGMEL_N_FFT
from mvlib.frontend.preprocess import preprocess

ACCEPTABLE_SAMPLE_RATE = [16000, 22050, 44100, 48000]  # hear-validator's list
DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    return make_run(tmp_path_factory.mktemp("hear_run"))


@pytest.fixture(scope="module")
def model(run):
    return hear.load_model(str(run))


def _noise(n_sounds, seconds, sr, seed=0, device="cpu"):
    g = torch.Generator().manual_seed(seed)
    return (torch.rand((n_sounds, int(seconds * sr)), generator=g) * 2 - 1).to(device)


def test_model_attributes(model, run):
    assert isinstance(model, torch.nn.Module)
    assert model.sample_rate in ACCEPTABLE_SAMPLE_RATE
    assert isinstance(model.scene_embedding_size, int)
    assert isinstance(model.timestamp_embedding_size, int)
    assert model.scene_embedding_size == model.timestamp_embedding_size == N_MELS  # z_p ⊕ z_s
    # a checkpoint path works as well as the run folder
    other = hear.load_model(str(run / "checkpoints" / "best.pt"))
    assert other.scene_embedding_size == N_MELS
    assert hear.load_model(str(run), subspace="z_s").scene_embedding_size == N_MELS // 2
    with pytest.raises(MvlibError, match="no pretrained model"):
        hear.load_model()


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize(
    "n_sounds, seconds",
    [(2, 1.07), (2, 1.98), (2, 4.0), (1, 0.3), (3, 0.01), (4, 2.74), (1, 5.0)],
)
def test_timestamp_embeddings_as_hear_validator_checks(model, device, n_sounds, seconds):
    model.to(device)
    sr = model.sample_rate
    audio = _noise(n_sounds, seconds, sr, device=device)
    emb, ts = hear.get_timestamp_embeddings(audio, model)
    assert isinstance(emb, torch.Tensor) and isinstance(ts, torch.Tensor)
    assert emb.dtype == torch.float32
    assert emb.device.type == ts.device.type == torch.device(device).type
    assert emb.ndim == 3 and ts.ndim == 2
    assert emb.shape[0] == n_sounds and emb.shape[:2] == ts.shape
    assert emb.shape[2] == model.timestamp_embedding_size
    assert torch.isfinite(emb).all()
    t = ts.cpu().numpy()
    length_ms = 1000 * audio.shape[1] / sr
    assert np.all(t == t[:1])  # the same times for every sound
    if t.shape[1] > 1:
        d = np.diff(t[0])
        assert np.all(d > 0) and np.max(np.abs(d - d.mean())) <= 1.0  # regular, within 1 ms
        assert d.mean() <= 50.0
        assert t.min() <= d.mean()
        assert t.max() >= length_ms - 2 * d.mean()
    assert t.max() <= length_ms
    scene = hear.get_scene_embeddings(audio, model)
    assert scene.dtype == torch.float32 and scene.shape == (n_sounds, model.scene_embedding_size)
    assert torch.allclose(scene, emb.mean(1), atol=1e-6)
    model.to("cpu")


def _encoded(model, x: np.ndarray) -> torch.Tensor:
    """The run's frontend and encoder on one prepared signal x ndarray[N]: z_p ⊕ z_s [T x D]."""
    with torch.inference_mode():
        out = model.encoder.embed(model.embedder.frontend(torch.from_numpy(x)[None, None]))
    return torch.cat([out["z_p"][0], out["z_s"][0]], dim=-1).float()  # (T, D)


def test_clip_shorter_than_one_window_and_than_one_hop(model):
    rate, cfg = model.sample_rate, model.embedder.cfg.features
    window_s = model.embedder.window / rate
    audio = _noise(2, window_s / 3, rate)
    emb, ts = hear.get_timestamp_embeddings(audio, model)
    assert emb.shape[1] == -(-int(window_s / 3 * rate) // 512)
    for i in range(2):  # values: the encoder itself on the loudness-normalised sound
        ref = _encoded(model, preprocess(audio[i].double().numpy(), rate, cfg))
        torch.testing.assert_close(emb[i], ref, atol=1e-5, rtol=1e-4)
    short = _noise(1, 100, 1)  # 100 samples: too short to normalise, passed on as it is
    emb, ts = hear.get_timestamp_embeddings(short, model)
    assert emb.shape[:2] == (1, 1) and float(ts[0, 0]) == 0.0
    x = np.zeros(LOGMEL_N_FFT, np.float32)  # zero-padded for the STFT; its first frame kept
    x[:100] = short[0].numpy()
    torch.testing.assert_close(emb[0], _encoded(model, x)[:1], atol=1e-5, rtol=1e-4)


def test_silence_still_gets_embeddings(model):
    emb, _ = hear.get_timestamp_embeddings(torch.zeros(2, model.sample_rate), model)
    assert torch.isfinite(emb).all()
    # below the loudness gate: no gain, the encoder on the silence itself
    hop = model.embedder.frontend.hop
    ref = _encoded(model, np.zeros(-(-model.sample_rate // hop) * hop, np.float32))  # to the hop
    for i in range(2):
        torch.testing.assert_close(emb[i], ref[: emb.shape[1]], atol=1e-5, rtol=1e-4)


def test_batch_independence(model):
    sr = model.sample_rate
    a = _noise(3, 2.5, sr, seed=1)
    b = a.clone()
    b[1:] = _noise(2, 2.5, sr, seed=2) * 0.1  # other sounds beside the first
    ea, _ = hear.get_timestamp_embeddings(a, model)
    eb, _ = hear.get_timestamp_embeddings(b, model)
    assert torch.allclose(ea[0], eb[0], atol=1e-5)
    alone, _ = hear.get_timestamp_embeddings(a[:1], model)
    assert torch.allclose(ea[0], alone[0], atol=1e-5)
    # and the same sound gives the same embeddings wherever it sits in the batch
    rev, _ = hear.get_timestamp_embeddings(a.flip(0), model)
    assert torch.allclose(rev.flip(0), ea, atol=1e-5)


def test_matches_mvlib_embed_on_the_same_audio(model):
    wave = _noise(1, 3.0, model.sample_rate, seed=3)
    emb, ts = hear.get_timestamp_embeddings(wave, model)
    ref, _ = model.embedder.embed_wave(wave[0].numpy(), model.sample_rate)
    assert np.allclose(emb[0].numpy(), ref["frames"], atol=1e-5)
    assert np.allclose(ts[0].numpy() / 1000, ref["times"], atol=1e-6)


def test_bad_input_shape(model):
    with pytest.raises(ValueError, match="n_sounds x n_samples"):
        hear.get_scene_embeddings(torch.zeros(100), model)
