"""Chapter 5's live ipywidgets controls, executed in a real Jupyter kernel (nbclient).

The chapter's widget cell (the one that calls ``widgets.projection_widgets``) runs verbatim
in a kernel after a cell that makes ``projections`` from known embeddings (the chapter makes
them from its runs, which a unit test cannot afford). A third cell then changes each
drop-down as a reader would and reports what the kernel drew. The test checks that the cell
displays a widget, that every change redraws a different picture, and that the points drawn
are the projection of the chosen run and subspace, coloured by the chosen colouring.
"""

import hashlib
import json
from pathlib import Path

import nbformat
import numpy as np
import pandas as pd
from nbclient import NotebookClient

from mvlib.report import explorer, widgets

CHAPTER = Path(__file__).resolve().parents[1] / "book" / "05_disentanglement.ipynb"

SETUP = """
import numpy as np
import pandas as pd
from mvlib.report import explorer

rng = np.random.default_rng(0)
clips = pd.DataFrame({
    "clip_id": [f"clip{i:02d}" for i in range(36)],
    "sensor_id": [f"s{i % 4}" for i in range(36)],
    "engine": (np.arange(36) % 3 == 0).astype(int),
    "dog": (np.arange(36) % 5 == 0).astype(int),
})
runs = {
    f"config {k} · seed 0": (
        {"z_s": rng.normal(size=(36, 6)), "z_p": rng.normal(size=(36, 6)) * (k + 1)}, clips
    )
    for k in range(2)
}
projections = explorer.projection_data(runs, ["engine", "dog"])
"""

DRIVE = """
import hashlib, json

def state():
    offsets = panel.figure.axes[0].collections[0].get_offsets()
    return {"drawn": list(panel.drawn), "png": hashlib.sha1(panel.image.value).hexdigest(),
            "xy": np.asarray(offsets).tolist(),
            "colours": panel.figure.axes[0].collections[0].get_facecolors().tolist()}

states = [state()]
panel.subspace.value = "z_p"
states.append(state())
panel.colour.value = "dog"
states.append(state())
panel.run.value = "config 1 · seed 0"
states.append(state())
print(json.dumps(states))
"""


def chapter_widget_cell() -> str:
    """The source of chapter 5's widget cell (exactly one cell calls the widgets)."""
    nb = nbformat.read(CHAPTER, as_version=4)
    cells = [c for c in nb.cells if "widgets.projection_widgets(" in c.source]
    assert len(cells) == 1, f"chapter 5 has {len(cells)} widget cells"
    assert "remove-output" in cells[0].metadata.get(
        "tags", []
    ), "the built book must leave the widget's output out (it keeps the static explorer)"
    return cells[0].source


def test_chapter5_widget_cell_redraws_when_the_controls_change(tmp_path):
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3"}
    nb.cells = [
        nbformat.v4.new_code_cell(SETUP),
        nbformat.v4.new_code_cell(chapter_widget_cell()),
        nbformat.v4.new_code_cell(DRIVE),
    ]
    NotebookClient(
        nb, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    ).execute()

    shown = nb.cells[1].outputs
    assert any(
        "application/vnd.jupyter.widget-view+json" in o.get("data", {}) for o in shown
    ), f"the widget cell displayed no widget: {shown}"
    text = "".join(o.get("text", "") for o in nb.cells[2].outputs if o.output_type == "stream")
    states = json.loads(text)
    assert [s["drawn"] for s in states] == [
        ["config 0 · seed 0", "z_s", "sensor", 36],
        ["config 0 · seed 0", "z_p", "sensor", 36],
        ["config 0 · seed 0", "z_p", "dog", 36],
        ["config 1 · seed 0", "z_p", "dog", 36],
    ]
    pngs = [s["png"] for s in states]
    assert len(set(pngs)) == len(pngs), "a change of the controls left the picture unchanged"

    # the points drawn are the chosen projection (numpy reference), coloured by the choice
    dog = np.arange(36) % 5 == 0
    rng = np.random.default_rng(0)
    emb = [(rng.normal(size=(36, 6)), rng.normal(size=(36, 6)) * (k + 1)) for k in range(2)]
    ref_zs0 = np.round(explorer.pca2(emb[0][0]), 4)
    np.testing.assert_allclose(np.array(states[0]["xy"]), ref_zs0, atol=1e-9)
    ref_zp1 = np.round(explorer.pca2(emb[1][1]), 4)
    order = np.argsort(dog, kind="stable")  # clips with the class present drawn on top
    np.testing.assert_allclose(np.array(states[3]["xy"]), ref_zp1[order], atol=1e-9)
    red = np.array(states[3]["colours"])[:, 0] > 0.8  # #d62728 (present) vs #c8c8c8
    assert red.tolist() == dog[order].tolist()


def test_projection_points_colour_by_sensor_and_by_class():
    clips = pd.DataFrame(
        {
            "clip_id": ["a", "b", "c", "d"],
            "sensor_id": ["s1", "s0", "s1", "s0"],
            "dog": [1, 0, 0, 1],
        }
    )
    z = np.array([[0.0, 1.0], [1.0, 0.0], [2.0, 1.0], [3.0, 3.0]])
    data = explorer.projection_data({"r": ({"z_s": z}, clips)}, ["dog"])
    by_sensor = widgets.projection_points(data, "r", "z_s", "sensor")
    # sensors sorted: s0 -> palette[0], s1 -> palette[1]; drawing order kept
    assert by_sensor["colours"] == [explorer.PALETTE[i] for i in (1, 0, 1, 0)]
    assert by_sensor["caption"].endswith("4 clips of 2 sensors")
    by_dog = widgets.projection_points(data, "r", "z_s", "dog")
    assert by_dog["colours"] == [widgets.ABSENT] * 2 + [widgets.PRESENT] * 2
    assert [lab.split(" ·")[0] for lab in by_dog["labels"]] == ["b", "c", "a", "d"]
    assert "2 with the class present" in by_dog["caption"]
    hashes = {hashlib.sha1(widgets.png(widgets.draw(p))).hexdigest() for p in (by_sensor, by_dog)}
    assert len(hashes) == 2
