"""Tests of mvlib.data.synth.folder.

Which folders the generator may write: each state of :func:`folder_state`, and the temp file
that a generator killed while writing its first marker leaves behind.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import replace

import pytest
from synth_cases import SMALL, files_of

from mvlib.data.synth.folder import GENERATION_MARKER, DatasetFolderError, folder_state
from mvlib.data.synth.generation import generate
from mvlib.data.synth.plan import set_name


def test_folder_states(small, tmp_path):
    assert folder_state(tmp_path / "absent") == ("new", "")
    (tmp_path / "empty").mkdir()
    assert folder_state(tmp_path / "empty") == ("new", "")
    assert folder_state(small, SMALL) == ("complete", "")
    assert folder_state(small) == ("complete", "")
    other = folder_state(small, replace(SMALL, seed=9))
    assert other[0] == "other_config" and set_name(SMALL) in other[1]

    mine = shutil.copytree(small, tmp_path / "mine")
    victim = sorted((mine / "audio").glob("*.wav"))[3]
    victim.unlink()
    assert folder_state(mine, SMALL) == ("edited", "1 audio file(s) removed")
    marker = json.loads((mine / GENERATION_MARKER).read_text())
    (mine / GENERATION_MARKER).write_text(json.dumps({**marker, "complete": False}))
    assert folder_state(mine, SMALL)[0] == "incomplete"
    (mine / GENERATION_MARKER).unlink()
    assert folder_state(mine, SMALL) == ("foreign", "no synth.json marker")
    (tmp_path / "file").write_text("x")
    assert folder_state(tmp_path / "file") == ("foreign", "not a folder")


def test_a_marker_write_killed_midway_leaves_a_new_folder(small, tmp_path):
    """Killed between creating the marker's temp file and renaming it: the folder is mvlib's."""
    out = tmp_path / "set"
    out.mkdir()
    stray = out / f".{GENERATION_MARKER}.k1ll3d.tmp"
    stray.write_text('{"config": ')
    assert folder_state(out, SMALL) == ("new", "")
    generate(SMALL, out, progress=False)
    assert not stray.exists()  # the finished set holds only its own files
    assert files_of(out) == files_of(small)
    (out / "notes.txt").write_text("mine")  # any other file makes a folder the user's
    shutil.rmtree(out / "audio")
    (out / GENERATION_MARKER).unlink()
    (out / "annotations.csv").unlink()
    (out / "truth.json").unlink()
    with pytest.raises(DatasetFolderError, match="holds files that mvlib did not write"):
        generate(SMALL, out, progress=False)
