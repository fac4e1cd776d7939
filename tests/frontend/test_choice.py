"""Choosing a frontend: ``auto`` resolved in the frontend layer, the registry, plugins."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

from mvlib.core import config as C
from mvlib.core.config import FeatureConfig
from mvlib.core.errors import MvlibError
from mvlib.frontend import dac_weights
from mvlib.frontend.choice import load_config, make_frontend
from mvlib.frontend.logmel import LogMelFrontend


def test_auto_frontend_resolves_to_dac_only_with_real_weights(tmp_path, monkeypatch):
    monkeypatch.delenv("MVLIB_DAC_WEIGHTS", raising=False)
    monkeypatch.setattr(dac_weights, "DAC_CACHE_FILE", tmp_path / "absent.pth")
    assert C.read_profile("default").features.frontend == "auto"  # core leaves it
    assert load_config("default").features.frontend == "logmel"
    weights = tmp_path / "weights_44khz_8kbps_0.0.1.pth"
    weights.write_bytes(b"x")
    monkeypatch.setenv("MVLIB_DAC_WEIGHTS", str(weights))
    assert load_config("default").features.frontend == "dac"
    # an explicit choice is never changed
    assert load_config("ci", {"features.frontend": "logmel"}).features.frontend == "logmel"


def test_make_frontend_names():
    assert isinstance(make_frontend(FeatureConfig(device="cpu")), LogMelFrontend)
    with pytest.raises(MvlibError, match=r"unknown frontend 'mfcc'.*logmel"):
        make_frontend(FeatureConfig(frontend="mfcc"))


PLUGIN = '''
"""A researcher's own frontend: the log-mel's first 16 bands, times two."""
import mvlib
from mvlib.frontend.logmel import LogMelFrontend


@mvlib.register_frontend("half_mel")
class HalfMel(LogMelFrontend):
    name = "half_mel"

    def __init__(self, cfg):
        super().__init__(cfg)
        self.dim = 16
        self.identity = {"bands": 16, "scale": 2.0}
        self.tag = "halfmel16"

    def _features(self, x):
        return 2.0 * super()._features(x)[..., :16]
'''


def test_plugin_frontend_extracts_through_the_cli_on_an_empty_cache(tmp_path):
    """A frontend registered from a module outside mvlib (``plugins:``) is extracted by
    ``mvlib extract`` into a store whose header carries its identity; the empty cache's
    dataset is made first (as train does) and the command exits 0."""
    (tmp_path / "my_frontend.py").write_text(textwrap.dedent(PLUGIN))
    profile = tmp_path / "mine.yml"
    profile.write_text(
        "inherits: ci\nplugins: [my_frontend.py]\nfeatures: {frontend: half_mel}\n"
        "synth: {n_sensors: 6, clips_per_sensor: 4, duration_s: 1.0}\n"
    )
    env = {**os.environ, "MVLIB_CACHE": str(tmp_path / "cache")}
    out = subprocess.run(
        [sys.executable, "-m", "mvlib.cli", "extract", "--profile", str(profile), "-q"],
        env=env, cwd=tmp_path, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    store = out.stdout.strip().splitlines()[-1]
    assert store.endswith("halfmel16")
    header = json.loads(open(os.path.join(store, "store.json")).read())
    assert header["dim"] == 16
    ident = header["identity"]
    assert ident["frontend"] == "half_mel" and ident["bands"] == 16
    assert ident["plugin"].endswith("HalfMel")
    assert "24 clips extracted" in out.stdout
