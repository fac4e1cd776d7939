"""Build hook: copy the profiles (top-level ``params/*.yml``) into the package.

``params/`` stays the one source of the profiles; a wheel carries a copy as
``mvlib/params/`` that :mod:`mvlib.core.resources` reads through ``importlib.resources``.
An editable install (``pip install -e .``) reads the checkout's ``params/`` directly.
Everything else about the build is declared in ``pyproject.toml``.
"""

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

HERE = Path(__file__).resolve().parent


class BuildPyWithProfiles(build_py):
    """``build_py`` that also copies ``params/*.yml`` to ``<build>/mvlib/params/``."""

    def run(self):
        super().run()
        if getattr(self, "editable_mode", False):
            return  # the editable package finds the checkout's params/ itself
        src = HERE / "params"
        profiles = sorted(src.glob("*.yml"))
        if not profiles:
            raise SystemExit(f"mvlib build: no profiles in {src}; build from a full checkout")
        dest = Path(self.build_lib) / "mvlib" / "params"
        dest.mkdir(parents=True, exist_ok=True)
        for p in profiles:
            shutil.copyfile(p, dest / p.name)


setup(cmdclass={"build_py": BuildPyWithProfiles})
