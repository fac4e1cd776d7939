"""DAC weights: where mvlib looks, what it refuses, and the one line the CLI prints for it."""

from __future__ import annotations

import os
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

from mvlib.core.config import FeatureConfig, read_profile
from mvlib.core.errors import MvlibError
from mvlib.frontend import dac_weights
from mvlib.frontend.choice import make_frontend
from mvlib.frontend.dac_frontend import DACFrontend
from mvlib.frontend.dac_weights import (
    WEIGHTS_ENV,
    WeightsError,
    check_state_dict,
    find_dac_weights,
    load_dac_weights,
    random_dac,
)
from mvlib.frontend.preprocess import preprocess

CFG = FeatureConfig(device="cpu")


@pytest.fixture(scope="module")
def stock_state() -> dict[str, torch.Tensor]:
    """State dict of the stock (weight-normed) random-init encoder the frontend was built from."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return random_dac(0).encoder.state_dict()


def _no_weights_anywhere(monkeypatch, tmp_path):
    monkeypatch.delenv(WEIGHTS_ENV, raising=False)
    monkeypatch.setattr(dac_weights, "DAC_CACHE_FILE", tmp_path / "absent.pth")
    monkeypatch.setattr(dac_weights, "_try_download", lambda: None)


def test_weights_error_is_an_mvlib_error():
    assert issubclass(WeightsError, MvlibError)


def test_no_weights_and_no_random_raises(monkeypatch, tmp_path):
    _no_weights_anywhere(monkeypatch, tmp_path)
    cfg = FeatureConfig(frontend="dac", allow_random_dac=False, device="cpu")
    with pytest.raises(WeightsError, match="allow_random_dac") as err:
        DACFrontend(cfg)
    assert str(tmp_path / "absent.pth") in err.value.line()  # where it looked, named
    monkeypatch.setenv(WEIGHTS_ENV, str(tmp_path / "nope.pth"))
    with pytest.raises(WeightsError, match=r"no such file \(named by \$MVLIB_DAC_WEIGHTS\)"):
        DACFrontend(cfg)


def test_random_init_warns_and_leaves_global_rng_alone(monkeypatch, tmp_path):
    _no_weights_anywhere(monkeypatch, tmp_path)
    assert find_dac_weights(FeatureConfig(frontend="dac")) is None
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    with pytest.warns(UserWarning, match="RANDOMLY INITIALISED"):
        random_dac(3)
    torch.testing.assert_close(torch.rand(3), expected)


def test_wrong_weights_file_rejected(tmp_path, stock_state):
    import dac

    # dac's own format, but only two encoder tensors: dac.DAC.load (strict=False) accepts it
    state = {k: v for k, v in list(stock_state.items())[:2]}
    state = {f"encoder.{k}": v for k, v in state.items()}
    state["encoder.extra.weight"] = torch.zeros(3)
    p = tmp_path / "partial.pth"
    torch.save({"state_dict": state, "metadata": {"kwargs": {}}}, p)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert isinstance(dac.DAC.load(str(p)), dac.DAC)  # silently half-loaded
    with pytest.raises(WeightsError, match=r"missing key.*unexpected key.*encoder\.extra\.weight"):
        load_dac_weights(p)
    (tmp_path / "junk.pth").write_bytes(b"junk")
    with pytest.raises(WeightsError, match="not a PyTorch weights file"):
        load_dac_weights(tmp_path / "junk.pth")
    torch.save({"weights": state}, tmp_path / "other.pth")
    with pytest.raises(WeightsError, match=r"holds \['weights'\], not dac's format"):
        load_dac_weights(tmp_path / "other.pth")


def test_check_state_dict_names_wrong_shapes(stock_state):
    good = {f"encoder.{k}": v for k, v in stock_state.items()}
    bad = dict(good)
    key = "encoder.block.0.bias"
    bad[key] = torch.zeros(good[key].shape[0] + 1)
    check_state_dict(good, good, "x.pth")
    with pytest.raises(WeightsError, match=r"wrong shape.*encoder\.block\.0\.bias: \(65,\)"):
        check_state_dict(bad, good, "x.pth")


@pytest.mark.slow
def test_round_tripped_weights_file_accepted(tmp_path, monkeypatch):
    # the random-init model saved in dac's plain format must load back to the same encoder
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = random_dac(0)
        reference = DACFrontend(FeatureConfig(frontend="dac", device="cpu", dac_seed=0))
    p = tmp_path / "my_weights.pth"
    model.save(str(p), package=False)
    cfg = FeatureConfig(frontend="dac", device="cpu", allow_random_dac=False, dac_weights=str(p))
    fe = DACFrontend(cfg)
    assert fe.identity["weights"] == "file-my_weights"
    assert fe.identity["weights_sha256"] == reference.identity["weights_sha256"]
    assert fe.tag == f"dac-44khz-8kbps-file-{fe.identity['weights_sha256'][:8]}-sr44100-lufs-24"
    rng = np.random.default_rng(0)
    wave = (0.05 * rng.standard_normal(22050)).astype(np.float32)
    x = torch.from_numpy(preprocess(wave, 44100, CFG))[None, None]
    torch.testing.assert_close(fe(x), reference(x), rtol=0, atol=0)
    # found through the environment variable too
    monkeypatch.setenv(WEIGHTS_ENV, str(p))
    assert find_dac_weights(FeatureConfig(frontend="dac")) == p


def test_paper_profile_stops_without_real_weights(tmp_path, monkeypatch):
    _no_weights_anywhere(monkeypatch, tmp_path)
    cfg = read_profile("paper")
    with pytest.raises(WeightsError, match="MVLIB_DAC_WEIGHTS"):
        make_frontend(cfg.features)


# --------------------------------------------------------------------------- the CLI's line


def _weights_files(folder: Path) -> dict[str, tuple[Path, str]]:
    """Bad weights files of each kind, and what the error must say about each."""
    garbage = folder / "garbage.pth"
    garbage.write_bytes(np.random.default_rng(0).bytes(300))
    text = folder / "notes.pth"
    text.write_text("these are not weights\n")
    tiny = folder / "tiny.pth"  # dac's format, one real key of a wrong shape
    torch.save({"state_dict": {"encoder.block.0.bias": torch.zeros(2)}, "metadata": {}}, tiny)
    return {
        "missing": (folder / "absent.pth", "no such file (named by features.dac_weights)"),
        "garbage": (garbage, "is not a PyTorch weights file (unrecognised bytes, 300 bytes"),
        "text": (text, "is not a PyTorch weights file (a text file"),
        "shapes": (
            tiny,
            "not DAC 44.1 kHz 8 kbps weights: 1 wrong shape(s) ['encoder.block.0.bias: (2,) (expected (64,))']",
        ),
    }


def test_bad_weights_print_one_line_through_the_cli(tmp_path):
    """Missing, garbage, text and wrong-shape weights: one ``mvlib: error:`` line, exit 2.

    Each line names the file, says what is wrong, and where mvlib looks for weights. The
    frontend is built first, so nothing (no dataset) is made in the empty cache.
    """
    cache = tmp_path / "cache"
    env = {**os.environ, "MVLIB_CACHE": str(cache)}
    env.pop(WEIGHTS_ENV, None)
    cases = _weights_files(tmp_path)
    procs = {
        name: subprocess.Popen(
            [sys.executable, "-m", "mvlib.cli", "extract", "--profile", "ci", "--set",
             "features.frontend=dac", "--set", f"features.dac_weights={path}"],
            env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        for name, (path, _) in cases.items()
    }
    for name, proc in procs.items():
        out, err = proc.communicate(timeout=300)
        path, what = cases[name]
        lines = err.strip().splitlines()
        assert proc.returncode == 2, (name, err)
        assert len(lines) == 1, (name, err)
        line = lines[0]
        assert line.startswith(f"mvlib: error: {path}: {what}"), (name, line)
        for where in ("features.dac_weights", "$MVLIB_DAC_WEIGHTS", "dac's cache"):
            assert where in line, (name, where, line)
        assert "Traceback" not in err and "Unsupported operand" not in err
    assert not (cache / "datasets").exists()  # stopped before making anything


# --------------------------------------------------------------------------- other codecs


def _small_codec_file(folder: Path, seed: int = 0) -> Path:
    from mvlib.ml.codec.model import build_codec, save_codec

    c = read_profile("ci", {"codec.encoder_dim": 4, "codec.decoder_dim": 32}).codec
    path = folder / f"small-{seed}.pth"
    return save_codec(build_codec(c, seed=seed), path, {"name": "small", "step": 0})


def test_a_dac_checkpoint_of_another_architecture_is_a_frontend(tmp_path):
    from mvlib.frontend.choice import load_config

    path = _small_codec_file(tmp_path)
    over = {"features.frontend": "dac", "features.dac_weights": str(path)}
    cfg = load_config("ci", {**over, "features.device": "cpu"})
    # rate and hop come from the checkpoint, not the profile's 44.1 kHz / 512
    assert (cfg.features.sample_rate, cfg.features.hop) == (22050, 320)
    fe = make_frontend(cfg.features)
    assert (fe.sample_rate, fe.hop, fe.dim) == (22050, 320, 64)
    assert "encoder_dim=4" in fe.identity["model"] and fe.tag.startswith("dac-file-")
    z = fe(0.05 * torch.randn(2, 1, 22050))
    assert z.shape == (2, 69, 64)  # ceil(22050 / 320) frames
    # another codec's weights: another store (the hash is in the tag and the identity)
    other = make_frontend(
        load_config(
            "ci", {**over, "features.dac_weights": str(_small_codec_file(tmp_path, 1))}
        ).features
    )
    assert other.tag != fe.tag and other.identity["weights_sha256"] != fe.identity["weights_sha256"]
    # the profile's rate, unresolved, is refused in one line that names the codec's
    with pytest.raises(
        MvlibError, match=r"features.sample_rate.*44100: the codec's sample_rate is 22050"
    ):
        DACFrontend(FeatureConfig(frontend="dac", dac_weights=str(path), device="cpu"))


def test_a_wrong_checkpoint_names_the_architecture_it_claims(tmp_path):
    path = _small_codec_file(tmp_path)
    blob = torch.load(path, weights_only=True)
    key = next(k for k in blob["state_dict"] if k.startswith("decoder"))
    blob["state_dict"][key] = torch.zeros(3)
    torch.save(blob, tmp_path / "bad.pth")
    with pytest.raises(WeightsError, match=r"not DAC\(.*encoder_dim=4.*\) weights: 1 wrong shape"):
        load_dac_weights(tmp_path / "bad.pth")
