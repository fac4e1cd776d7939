"""Codec training (mvlib.ml.codec): determinism, resume after kill -9, the lock, DAC's format."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

from mvlib.core.config import read_profile
from mvlib.ml.codec.corpus import load_corpus
from mvlib.ml.codec.losses import CodecLosses
from mvlib.ml.codec.model import build_codec, save_codec
from mvlib.ml.codec.quality import si_sdr
from mvlib.ml.codec.trainer import batch_excerpts, codec_dir, train_codec

#: a codec small enough to train a few steps in seconds on a tiny corpus
TINY = {
    "codec.sample_rate": 8000,
    "codec.encoder_dim": 4,
    "codec.encoder_rates": [2, 4],
    "codec.latent_dim": 8,
    "codec.decoder_dim": 16,
    "codec.decoder_rates": [4, 2],
    "codec.n_codebooks": 2,
    "codec.codebook_size": 16,
    "codec.codebook_dim": 4,
    "codec.corpus_sensors": 3,
    "codec.corpus_clips_per_sensor": 2,
    "codec.corpus_duration_s": 1.0,
    "codec.heldout_sensors": 1,
    "codec.batch_size": 2,
    "codec.segment_s": 0.25,
    "codec.checkpoint_every": 2,
    "codec.snapshot_every": 4,
    "codec.device": "cpu",
    "codec.threads": 1,
}


def tiny(**over):
    return read_profile("ci", {**TINY, **over})


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("MVLIB_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def _cli(args: list[str], cache: Path, **kw) -> subprocess.Popen:
    env = {**os.environ, "MVLIB_CACHE": str(cache)}
    return subprocess.Popen(
        [sys.executable, "-m", "mvlib", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **kw,
    )


def _sets() -> list[str]:
    out = []
    for k, v in TINY.items():
        out += ["--set", f"{k}={v}".replace("'", "")]
    return out


def test_same_seed_same_initial_weights_and_global_rng_untouched():
    c = tiny().codec
    torch.manual_seed(123)
    before = torch.rand(1)
    torch.manual_seed(123)
    a, b = build_codec(c), build_codec(c)
    assert torch.equal(torch.rand(1), before)  # the global RNG is left alone
    for (k, va), vb in zip(a.state_dict().items(), b.state_dict().values()):
        assert torch.equal(va, vb), k
    other = build_codec(c, seed=1)
    assert not torch.equal(other.encoder.block[0].weight_v, a.encoder.block[0].weight_v)


def test_batches_are_a_function_of_seed_and_step(cache):
    cfg = tiny()
    corpus = load_corpus(cfg, progress=False)
    assert len(corpus.train) == 4 and len(corpus.heldout) == 2  # 1 of 3 sensors held out
    assert set(corpus.sensors[corpus.train]).isdisjoint(corpus.sensors[corpus.heldout])
    x = batch_excerpts(corpus, 0, 5, 2, 2000)
    assert x.shape == (2, 2000) and x.dtype == np.float32
    np.testing.assert_array_equal(x, batch_excerpts(corpus, 0, 5, 2, 2000))
    assert not np.array_equal(x, batch_excerpts(corpus, 0, 6, 2, 2000))
    held = np.concatenate([corpus.clip(int(i)) for i in corpus.heldout])
    for row in x:  # every excerpt comes from a training clip, never a held-out one
        assert not any(
            np.array_equal(row[:50], held[j : j + 50]) for j in range(0, len(held) - 50, 1000)
        )


def test_si_sdr_against_its_definition():
    rng = np.random.default_rng(0)
    s = rng.standard_normal(1000)
    n = rng.standard_normal(1000)
    n -= np.dot(n, s) / np.dot(s, s) * s  # orthogonal to s: SI-SDR = 10 log10(|s|^2 / |n|^2)
    n *= 0.1 * np.linalg.norm(s) / np.linalg.norm(n)
    assert si_sdr(s + n, s) == pytest.approx(20.0, abs=1e-9)
    assert si_sdr(3.0 * (s + n), s) == pytest.approx(20.0, abs=1e-9)  # scale-invariant
    assert si_sdr(s, s) > 100  # perfect: only eps keeps it finite


def test_losses_are_dacs_weighted_sum_with_gradients():
    c = tiny().codec
    model = build_codec(c)
    losses = CodecLosses(c)
    x = 0.1 * torch.randn(2, 1, 2000)
    out = model(x, c.sample_rate)
    terms = losses(out["audio"], x, out, None)
    want = (
        c.mel_weight * terms["mel"]
        + c.l1_weight * terms["l1"]
        + c.commitment_weight * terms["commitment"]
        + c.codebook_weight * terms["codebook"]
    )
    torch.testing.assert_close(terms["total"], want)
    n = out["audio"].shape[-1]  # the odd-rate decoder may return fewer samples
    l1 = np.abs(out["audio"].detach().numpy() - x[..., :n].numpy()).mean()
    assert float(terms["l1"]) == pytest.approx(l1, rel=1e-5)
    terms["total"].backward()
    assert model.encoder.block[0].weight_v.grad.abs().sum() > 0


@pytest.mark.slow
def test_gan_option_adds_the_discriminators_terms(cache):
    cfg = tiny(**{"codec.gan": True})
    res = train_codec(cfg, steps=1, progress=False)
    state = torch.load(res.codec_dir / "state.pt", weights_only=False)
    assert {"gen", "feature"} <= set(state["history"][0]) and "disc" in state


@pytest.mark.slow
def test_codec_train_cli_resumes_after_kill_9_to_the_same_weights(tmp_path):
    steps = "12"
    whole = _cli(
        ["codec", "train", "--profile", "ci", "-q", "--steps", steps, *_sets()], tmp_path / "a"
    )
    out, err = whole.communicate(timeout=600)
    assert whole.returncode == 0, err
    ref = Path(out.strip().splitlines()[-1])
    # the same training, killed with -9 once it has checkpointed, then resumed
    b = tmp_path / "b"
    first = _cli(["codec", "train", "--profile", "ci", "-q", "--steps", steps, *_sets()], b)
    deadline = time.time() + 300
    while not list(b.glob("codec/*/state.pt")) and time.time() < deadline:
        time.sleep(0.05)
    first.send_signal(signal.SIGKILL)
    first.communicate()
    assert first.returncode == -signal.SIGKILL
    killed_at = torch.load(next(b.glob("codec/*/state.pt")), weights_only=False)["step"]
    assert 0 < killed_at < int(steps)
    again = _cli(["codec", "train", "--profile", "ci", "-q", "--steps", steps, *_sets()], b)
    out, err = again.communicate(timeout=600)
    assert again.returncode == 0, err
    got = Path(out.strip().splitlines()[-1])
    assert got.name == ref.name == "latest.pth"
    a_sd = torch.load(ref, weights_only=True)
    b_sd = torch.load(got, weights_only=True)
    for k, v in a_sd["state_dict"].items():
        assert torch.equal(v, b_sd["state_dict"][k]), k
    assert a_sd["metadata"]["mvlib"]["step"] == b_sd["metadata"]["mvlib"]["step"] == 12
    # losses of every step equal too (the history is part of the state)
    ha = torch.load(ref.parent / "state.pt", weights_only=False)["history"]
    hb = torch.load(got.parent / "state.pt", weights_only=False)["history"]
    assert ha == hb and len(ha) == 12


@pytest.mark.slow
def test_more_steps_continue_a_finished_training(cache):
    cfg = tiny()
    first = train_codec(cfg, steps=4, progress=False)
    second = train_codec(cfg, steps=6, progress=False)
    assert (first.step, second.step) == (4, 6)
    state = torch.load(second.codec_dir / "state.pt", weights_only=False)
    assert [r["step"] for r in state["history"]] == list(range(1, 7))
    assert sorted(p.name for p in (second.codec_dir / "snapshots").glob("*.pth")) == [
        "step-000004.pth"
    ]


def test_a_second_training_of_one_codec_is_refused_in_one_line(cache):
    from mvlib.core.ownedlock import owned_lock

    cfg = tiny()
    folder = codec_dir(cfg)
    with owned_lock(folder / "train.lock", folder / "holder.json", wait=False):
        p = _cli(["codec", "train", "--profile", "ci", "--steps", "1", *_sets()], cache)
        _, err = p.communicate(timeout=300)
    assert p.returncode == 2
    lines = [ln for ln in err.strip().splitlines() if ln.startswith("mvlib: error:")]
    assert len(lines) == 1 and "another process is training this codec" in lines[0], err
    assert "Traceback" not in err


def test_bad_steps_is_one_line(cache):
    p = _cli(["codec", "train", "--profile", "ci", "--steps", "0", *_sets()], cache)
    _, err = p.communicate(timeout=300)
    assert p.returncode == 2 and err.strip().startswith("mvlib: error: --steps"), err


def test_checkpoint_is_dacs_format_and_loads_with_dac(tmp_path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import dac

    c = tiny().codec
    model = build_codec(c)
    path = save_codec(model, tmp_path / "codec.pth", {"name": "t", "step": 3, "cpu_s": 1.0})
    loaded = dac.DAC.load(str(path))
    assert loaded.sample_rate == 8000 and int(loaded.hop_length) == 8 and loaded.latent_dim == 8
    for k, v in model.state_dict().items():
        assert torch.equal(v, loaded.state_dict()[k]), k
    assert loaded.metadata["mvlib"]["step"] == 3


@pytest.mark.slow
def test_torchrun_trains_the_codec_on_two_ranks_as_one_process_does(tmp_path):
    """``torchrun --nproc_per_node 2 -m mvlib codec train``: each rank takes half of every
    batch, rank 0 alone writes; without quantizer dropout (a per-rank draw) the weights
    equal one process's up to float sums."""
    sets = _sets() + ["--set", "codec.quantizer_dropout=0.0"]
    args = ["codec", "train", "--profile", "ci", "-q", "--steps", "3", *sets]
    env = {**os.environ, "MVLIB_CACHE": str(tmp_path / "two")}
    for k in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        env.pop(k, None)
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2"]
    two = subprocess.run(cmd + ["-m", "mvlib", *args], env=env, capture_output=True, text=True)
    assert two.returncode == 0, two.stderr[-3000:]
    assert two.stdout.count("CPU-s of training") == 1  # rank 0 alone reports
    one = _cli(args, tmp_path / "one")
    out, err = one.communicate(timeout=600)
    assert one.returncode == 0, err
    a = torch.load(Path(out.strip().splitlines()[-1]), weights_only=True)["state_dict"]
    b = torch.load(Path(two.stdout.strip().splitlines()[-1]), weights_only=True)["state_dict"]
    for k, v in a.items():
        torch.testing.assert_close(b[k], v, rtol=1e-4, atol=1e-5, msg=k)


def test_a_saved_codec_records_its_own_quantizer_dropout(tmp_path):
    c = tiny(**{"codec.quantizer_dropout": 0.25}).codec
    path = save_codec(build_codec(c), tmp_path / "c.pth", {"name": "t"})  # no config given
    meta = torch.load(path, weights_only=True)["metadata"]
    assert meta["kwargs"]["quantizer_dropout"] == 0.25
