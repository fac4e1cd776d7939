"""``mvlib --help`` and ``mvlib --version`` start at once: they import no torch, numpy or pandas.

Each command imports its layers when it runs (``mvlib/cli.py``); ``import mvlib`` imports
its public names on first use. ``benchmarks/cli_start.py`` measures the time and memory.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

#: what a start must not import (torch alone is ~1 GiB and seconds)
HEAVY = ("torch", "numpy", "pandas", "scipy", "yaml", "tqdm")

#: argv as the console script ``mvlib`` (``mvlib.cli:main``) and ``python -m mvlib`` run it
MAIN = """
import runpy, sys
sys.argv = ["mvlib", *{argv!r}]
try:
    if {module!r}:
        runpy.run_module("mvlib", run_name="__main__", alter_sys=True)
    else:
        from mvlib.cli import main
        sys.exit(main())
except SystemExit as e:
    code = e.code
print("\\nMODULES", " ".join(sorted(sys.modules)), "EXIT", code)
"""


def _imported(argv: list[str], module: bool) -> tuple[set[str], object]:
    done = subprocess.run(
        [sys.executable, "-c", MAIN.format(argv=argv, module=module)],
        capture_output=True,
        text=True,
        check=True,
    )
    line = done.stdout.strip().splitlines()[-1]
    assert line.startswith("MODULES "), done.stdout[-2000:] + done.stderr[-2000:]
    names, code = line[len("MODULES ") :].rsplit(" EXIT ", 1)
    return set(names.split()), code


def _heavy(modules: set[str]) -> list[str]:
    """The heavy packages among ``modules`` (top-level names)."""
    return sorted({m.split(".")[0] for m in modules} & set(HEAVY))


@pytest.mark.parametrize("module", [False, True], ids=["mvlib", "python -m mvlib"])
@pytest.mark.parametrize(
    "argv",
    [["--help"], ["--version"], ["train", "--help"], ["store", "verify", "--help"]],
    ids=" ".join,
)
def test_help_and_version_import_no_heavy_layer(argv, module):
    modules, code = _imported(argv, module)
    assert code == "0"
    assert _heavy(modules) == [], f"mvlib {' '.join(argv)} imports {_heavy(modules)}"
    mvlib_modules = sorted(m for m in modules if m.startswith("mvlib"))
    assert set(mvlib_modules) <= {
        "mvlib",
        "mvlib.__main__",
        "mvlib.cli",
        "mvlib.core",
        "mvlib.core.errors",
        "mvlib.core.version",
    }, mvlib_modules


def test_import_mvlib_imports_no_heavy_layer_until_a_name_is_used():
    code = (
        "import sys, mvlib; first = sorted(sys.modules); mvlib.load_config; "
        "print(' '.join(first)); print('torch' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.splitlines()
    assert _heavy(set(out[0].split())) == []
    assert out[1] == "True"  # the name, once used, is imported from its module


def test_a_command_still_imports_what_it_uses(tmp_path):
    """``mvlib config`` runs (its layers imported on use) and prints the resolved profile."""
    out = subprocess.run(
        [sys.executable, "-m", "mvlib", "config", "--profile", "ci", "--set", "train.epochs=2"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert out.returncode == 0, out.stderr
    assert "epochs: 2" in out.stdout


def test_every_import_a_command_makes_on_use_resolves():
    """The commands' imports run only when a command runs: each must name a real module and
    real names (a rename elsewhere would otherwise surface only in that command)."""
    import ast
    import importlib
    import importlib.util
    from pathlib import Path

    import mvlib.cli

    tree = ast.parse(Path(mvlib.cli.__file__).read_text())
    checked = 0
    for fn in (n for n in tree.body if isinstance(n, ast.FunctionDef)):
        for node in ast.walk(fn):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    importlib.import_module(alias.name)
                    checked += 1
            elif isinstance(node, ast.ImportFrom):
                module = importlib.import_module(node.module)
                for alias in node.names:
                    assert hasattr(module, alias.name) or importlib.util.find_spec(
                        f"{node.module}.{alias.name}"
                    ), f"{fn.name}: from {node.module} import {alias.name}"
                    checked += 1
    assert checked >= 10
