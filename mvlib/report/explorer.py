"""A self-contained HTML/JS explorer of the subspaces' 2-D projections (chapter 5).

The built book is static HTML: an ipywidgets callback needs a live kernel, and the widget
manager would come from a CDN. So every projection the reader can ask for is computed at
build time (PCA of the time-pooled ``z_p`` and ``z_s`` of every multi-view run), embedded as
JSON in the page, and drawn as SVG by a few lines of plain JavaScript when the reader picks a
run, a subspace and a colouring. Nothing is loaded from a network; the same HTML works in a
live notebook (JupyterLab runs the script of a trusted output).

The JSON holds, for the held-out sensors' downstream clips, their sensor and coarse labels
once, and per run and subspace the 2-D coordinates (3 significant digits) of each clip.
"""

from __future__ import annotations

import html
import json
import uuid

import numpy as np
import pandas as pd

from mvlib.data.taxonomy import coarse_label_columns
from mvlib.embed.stored import run_embeddings

#: matplotlib's tab20, so that the static page looks like the notebook's figures
PALETTE = [
    "#1f77b4",
    "#aec7e8",
    "#ff7f0e",
    "#ffbb78",
    "#2ca02c",
    "#98df8a",
    "#d62728",
    "#ff9896",
    "#9467bd",
    "#c5b0d5",
    "#8c564b",
    "#c49c94",
    "#e377c2",
    "#f7b6d2",
    "#7f7f7f",
    "#c7c7c7",
    "#bcbd22",
    "#dbdb8d",
    "#17becf",
    "#9edae5",
]
SUBSPACES = ("z_s", "z_p")


def pca2(x: np.ndarray) -> np.ndarray:
    """First two principal components of ``x``: ndarray[N x D] -> ndarray[N x 2].

    Signs are fixed (the largest-magnitude loading of each component is positive) so that a
    rebuild draws the same picture.
    """
    assert x.ndim == 2, f"expected (N, D), got {x.shape}"
    xc = x - x.mean(0, keepdims=True)  # (N, D)
    _, _, vt = np.linalg.svd(xc, full_matrices=False)  # vt: (min(N, D), D)
    comps = vt[:2]
    if comps.shape[0] < 2:  # one clip or one feature: pad with a zero component
        comps = np.vstack([comps, np.zeros((2 - comps.shape[0], x.shape[1]))])
    signs = np.sign(comps[np.arange(2), np.abs(comps).argmax(1)])
    signs[signs == 0] = 1
    return xc @ (comps * signs[:, None]).T  # (N, 2)


def projection_data(runs: dict[str, tuple[dict, pd.DataFrame]], label_columns) -> dict:
    """The explorer's data from embedded runs.

    Parameters
    ----------
    runs : run label -> (embeddings name -> ndarray[N x k], clips DataFrame of those N clips
        with ``clip_id``, ``sensor_id`` and the label columns)
    label_columns : the 0/1 clip label columns offered as colourings

    Returns
    -------
    dict with ``clips`` (ids), ``colourings`` (name -> per-clip codes: sensor index or 0/1),
    ``sensors`` (names), ``runs`` (label -> {"idx": clip indices, subspace -> [[x, y], ...]})
    """
    ids: dict[str, int] = {}
    sensor, labels = [], {c: [] for c in label_columns}
    out_runs = {}
    for name, (emb, clips) in runs.items():
        idx = []
        missing = [c for c in ("clip_id", "sensor_id", *label_columns) if c not in clips]
        assert not missing, f"{name}: clips lack columns {missing}"
        for row in clips[["clip_id", "sensor_id", *label_columns]].to_dict("records"):
            cid = str(row["clip_id"])
            if cid not in ids:
                ids[cid] = len(ids)
                sensor.append(str(row["sensor_id"]))
                for c in label_columns:
                    labels[c].append(int(row[c]))
            idx.append(ids[cid])
        entry = {"idx": idx}
        for s in SUBSPACES:
            if s in emb:
                assert len(emb[s]) == len(
                    idx
                ), f"{name}: {len(emb[s])} embeddings, {len(idx)} clips"
                entry[s] = np.round(pca2(np.asarray(emb[s], np.float64)), 4).tolist()
        out_runs[name] = entry
    sensors = sorted(set(sensor))
    codes = {"sensor": [sensors.index(s) for s in sensor], **labels}
    return {"clips": list(ids), "sensors": sensors, "colourings": codes, "runs": out_runs}


def run_projections(cfg, results: pd.DataFrame) -> dict:
    """:func:`projection_data` of the multi-view / single-view runs of a sweep's results.

    One run per configuration, its first seed (seeds differ in initialisation and pairs,
    not in what a projection shows; embedding every seed's clips would triple the cost).
    """
    mv = results[results["method"].isin(["multiview", "singleview"])]
    mv = mv[mv["seed"] == mv.groupby("config")["seed"].transform("min")]
    runs = {}
    for r in mv.itertuples():
        run = run_embeddings(r.run_dir)
        runs[f"{r.config} · seed {r.seed}"] = (run.embeddings, run.clips)
    return projection_data(runs, coarse_label_columns())


_JS = r"""
(function () {
  var root = document.getElementById("%(id)s");
  var data = JSON.parse(root.querySelector("script[type='application/json']").textContent);
  var palette = %(palette)s;
  var sel = {};
  ["run", "subspace", "colour"].forEach(function (k) {
    sel[k] = root.querySelector("select[name='" + k + "']");
  });
  var svg = root.querySelector("svg"), NS = "http://www.w3.org/2000/svg";
  var W = 460, H = 380, M = 36;
  function el(tag, attrs, text) {
    var e = document.createElementNS(NS, tag);
    for (var a in attrs) e.setAttribute(a, attrs[a]);
    if (text !== undefined) e.textContent = text;
    return e;
  }
  function draw() {
    var run = data.runs[sel.run.value], sub = sel.subspace.value, col = sel.colour.value;
    var xy = run[sub] || [], codes = data.colourings[col];
    while (svg.firstChild) svg.removeChild(svg.firstChild);
    var xs = xy.map(function (p) { return p[0]; }), ys = xy.map(function (p) { return p[1]; });
    var x0 = Math.min.apply(null, xs), x1 = Math.max.apply(null, xs);
    var y0 = Math.min.apply(null, ys), y1 = Math.max.apply(null, ys);
    var P = 8;  // inner padding: no point on the frame
    var sx = (W - 2 * M - 2 * P) / ((x1 - x0) || 1), sy = (H - 1.5 * M - 2 * P) / ((y1 - y0) || 1);
    svg.appendChild(el("rect", {x: M, y: M / 2, width: W - 2 * M, height: H - 1.5 * M,
                                fill: "none", stroke: "#999"}));
    svg.appendChild(el("text", {x: W / 2, y: H - 6, "text-anchor": "middle",
                                "font-size": 12}, "PC 1"));
    svg.appendChild(el("text", {x: 12, y: H / 2, "text-anchor": "middle", "font-size": 12,
                                transform: "rotate(-90 12 " + H / 2 + ")"}, "PC 2"));
    var order = xy.map(function (_, i) { return i; });
    if (col !== "sensor") order.sort(function (a, b) {
      return codes[run.idx[a]] - codes[run.idx[b]];  // present on top
    });
    order.forEach(function (i) {
      var c = codes[run.idx[i]];
      var fill = col === "sensor" ? palette[c %% palette.length] : (c ? "#d62728" : "#c8c8c8");
      var dot = el("circle", {cx: (M + P + (xy[i][0] - x0) * sx).toFixed(1),
                              cy: (H - M - P - (xy[i][1] - y0) * sy).toFixed(1),
                              r: col === "sensor" || c ? 3.2 : 2.6, fill: fill});
      dot.appendChild(el("title", {}, data.clips[run.idx[i]] + " · sensor " +
                         data.sensors[data.colourings.sensor[run.idx[i]]] +
                         (col === "sensor" ? "" : " · " + col + (c ? " present" : " absent"))));
      svg.appendChild(dot);
    });
    var n = 0;
    if (col !== "sensor") run.idx.forEach(function (j) { n += codes[j] ? 1 : 0; });
    root.querySelector(".mvlib-explorer-caption").textContent =
      sel.run.value + " — " + sub + " coloured by " + col + ": " + xy.length + " clips" +
      (col === "sensor" ? " of " + new Set(run.idx.map(function (j) {
        return codes[j]; })).size + " sensors" : ", " + n + " with the class present (red)");
    root.dataset.drawn = [sel.run.value, sub, col, xy.length].join("|");
  }
  ["run", "subspace", "colour"].forEach(function (k) {
    sel[k].addEventListener("change", draw);
  });
  draw();
})();
"""


def explorer_html(data: dict, default_run: str | None = None) -> str:
    """The explorer as one HTML fragment (selects, an SVG, the data and its script)."""
    if not data["runs"]:
        return "<p>no multi-view runs to project</p>"
    div_id = f"mvlib-explorer-{uuid.uuid4().hex[:12]}"

    def options(values, selected=None):
        return "".join(
            f'<option value="{html.escape(v)}"{" selected" if v == selected else ""}>'
            f"{html.escape(v)}</option>"
            for v in values
        )

    subspaces = [s for s in SUBSPACES if any(s in r for r in data["runs"].values())]
    payload = json.dumps(data, separators=(",", ":")).replace("</", "<\\/")
    style = "margin-right:1em;font-size:0.9em"
    return (
        f'<div class="mvlib-explorer" id="{div_id}">'
        f'<label style="{style}">run <select name="run">'
        f"{options(data['runs'], default_run)}</select></label>"
        f'<label style="{style}">subspace <select name="subspace">'
        f"{options(subspaces)}</select></label>"
        f'<label style="{style}">colour <select name="colour">'
        f"{options(list(data['colourings']))}</select></label>"
        '<svg viewBox="0 0 460 380" width="460" height="380" role="img" '
        'aria-label="PCA projection of the chosen subspace"></svg>'
        '<div class="mvlib-explorer-caption" style="font-size:0.85em"></div>'
        f'<script type="application/json">{payload}</script>'
        f"<script>{_JS % {'id': div_id, 'palette': json.dumps(PALETTE)}}</script>"
        "</div>"
    )
