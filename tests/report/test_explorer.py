"""The static projection explorer of chapter 5 (its page behaviour: tests/browser_book.py)."""

from __future__ import annotations

import json
import re
import types

import numpy as np
import pandas as pd
from sklearn.decomposition import PCA

from mvlib.data.taxonomy import coarse_label_columns
from mvlib.report import explorer


def _clips(ids, sensors, engine):
    return pd.DataFrame({"clip_id": ids, "sensor_id": sensors, "1_engine": engine})


def test_pca2_matches_sklearn_up_to_sign():
    x = np.random.default_rng(0).normal(size=(50, 8)) * np.arange(1, 9)
    ours = explorer.pca2(x)
    ref = PCA(2).fit_transform(x)
    assert ours.shape == (50, 2)
    for k in range(2):
        assert np.allclose(np.abs(ours[:, k]), np.abs(ref[:, k]), atol=1e-8)
    # deterministic sign convention: a sign-flipped input direction gives the same picture
    assert np.allclose(explorer.pca2(x), explorer.pca2(x.copy()))


def test_pca2_degenerate_inputs():
    assert explorer.pca2(np.ones((1, 4))).shape == (1, 2)
    assert explorer.pca2(np.arange(5.0)[:, None]).shape == (5, 2)


def test_projection_data_shares_clips_between_runs():
    rng = np.random.default_rng(1)
    a = _clips(["c1", "c2", "c3"], ["s1", "s2", "s1"], [1, 0, 0])
    b = _clips(["c3", "c4"], ["s1", "s3"], [0, 1])
    runs = {
        "run a": ({"z_s": rng.normal(size=(3, 4)), "z_p": rng.normal(size=(3, 4))}, a),
        "run b": ({"z_s": rng.normal(size=(2, 4)), "z_p": rng.normal(size=(2, 4))}, b),
    }
    data = explorer.projection_data(runs, ["1_engine"])
    assert data["clips"] == ["c1", "c2", "c3", "c4"]
    assert data["sensors"] == ["s1", "s2", "s3"]
    assert data["colourings"]["sensor"] == [0, 1, 0, 2]
    assert data["colourings"]["1_engine"] == [1, 0, 0, 1]
    assert data["runs"]["run b"]["idx"] == [2, 3]
    assert np.array(data["runs"]["run a"]["z_p"]).shape == (3, 2)
    json.dumps(data)  # embeddable as is


def test_explorer_html_embeds_data_and_escapes():
    runs = {
        "a <b> & 'c'": (
            {"z_s": np.eye(3), "z_p": np.eye(3)[::-1]},
            _clips(["x</script>", "y", "z"], ["s1", "s2", "s3"], [0, 1, 0]),
        )
    }
    page = explorer.explorer_html(explorer.projection_data(runs, ["1_engine"]))
    assert "</script>" not in page.split('type="application/json">', 1)[1].split("</script>")[0]
    payload = re.search(r'type="application/json">(.*?)</script>', page, re.S).group(1)
    assert json.loads(payload)["clips"][0] == "x</script>"
    assert "a &lt;b&gt; &amp; &#x27;c&#x27;" in page
    for name in ("run", "subspace", "colour"):
        assert f'<select name="{name}">' in page
    assert "http" not in page.replace("http://www.w3.org/2000/svg", "")  # no network
    assert explorer.explorer_html({"runs": {}}).startswith("<p>")


def test_run_projections_embeds_one_run_per_configuration_its_first_seed(monkeypatch):
    cols = list(coarse_label_columns())
    clips = pd.DataFrame({"clip_id": ["a", "b", "c"], "sensor_id": ["s1", "s1", "s2"]})
    for c in cols:
        clips[c] = [0, 1, 0]
    embedded = []

    def fake(run_dir):
        embedded.append(run_dir)
        z = np.random.default_rng(len(embedded)).normal(size=(3, 4))
        return types.SimpleNamespace(embeddings={"z_p": z, "z_s": z + 1}, clips=clips)

    monkeypatch.setattr(explorer, "run_embeddings", fake)  # as the explorer imported it
    results = pd.DataFrame(
        {
            "config": ["rec", "rec", "rec + cos- sample", "rec + cos- sample", "singleview AE"],
            "method": ["multiview"] * 4 + ["singleview"],
            "seed": [1, 0, 2, 1, 0],
            "run_dir": ["rec1", "rec0", "cos2", "cos1", "sv0"],
        }
    )
    data = explorer.run_projections(None, results)
    assert sorted(embedded) == ["cos1", "rec0", "sv0"]
    assert sorted(data["runs"]) == [
        "rec + cos- sample · seed 1",
        "rec · seed 0",
        "singleview AE · seed 0",
    ]
