"""mvlib's one-line errors and how the command line prints them."""

import pickle

import pytest

from mvlib.cli import main
from mvlib.core.errors import MvlibError, format_error


def test_line_names_culprit_what_and_fix():
    e = MvlibError("/data/x.csv", "line 3 has 2 columns,\n expected 5", "fix the file")
    assert (
        format_error(e)
        == "mvlib: error: /data/x.csv: line 3 has 2 columns, expected 5; fix the file"
    )
    assert "\n" not in format_error(e)


def test_without_fix_and_pickle_round_trip():
    e = MvlibError("train.epochs", "-1 is below 1")
    assert e.line() == "train.epochs: -1 is below 1"
    back = pickle.loads(pickle.dumps(e))
    assert (back.culprit, back.what, back.fix) == (e.culprit, e.what, e.fix)


def test_cli_prints_one_line_and_exits_2(monkeypatch, capsys):
    def boom(args):
        raise MvlibError("somewhere", "is wrong", "do this")

    monkeypatch.setattr("mvlib.cli.cmd_config", boom)
    assert main(["config"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["mvlib: error: somewhere: is wrong; do this"]


def test_cli_debug_raises(monkeypatch):
    def boom(args):
        raise MvlibError("somewhere", "is wrong")

    monkeypatch.setattr("mvlib.cli.cmd_config", boom)
    with pytest.raises(MvlibError):
        main(["--debug", "config"])


def test_cli_prints_an_os_error_about_a_file_as_one_line(monkeypatch, capsys):
    def boom(args):
        raise PermissionError(13, "Permission denied", "/data/out.csv")

    monkeypatch.setattr("mvlib.cli.cmd_config", boom)
    assert main(["config"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("mvlib: error: /data/out.csv: Permission denied; ")


def test_cli_lets_an_os_error_without_a_file_through(monkeypatch):
    def boom(args):  # not about a path the user gave: a bug to see in full
        raise OSError("something internal")

    monkeypatch.setattr("mvlib.cli.cmd_config", boom)
    with pytest.raises(OSError, match="something internal"):
        main(["config"])
