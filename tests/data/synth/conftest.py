"""The synth tests' shared set: generated once per session."""

import pytest
from synth_cases import SMALL

from mvlib.data.synth.generation import generate


@pytest.fixture(scope="session")
def small(tmp_path_factory):
    """The :data:`synth_cases.SMALL` set, generated once (tests only read it)."""
    return generate(SMALL, tmp_path_factory.mktemp("synth") / "a", progress=False)
