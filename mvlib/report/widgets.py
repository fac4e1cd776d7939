"""Live ipywidgets controls over chapter 5's subspace projections (a running Jupyter kernel).

The built book is static HTML, so it shows :mod:`mvlib.report.explorer` (the projections
drawn by a few lines of JavaScript). A researcher who runs chapter 5 in Jupyter gets the same
projections (the same :func:`~mvlib.report.explorer.projection_data` dictionary) behind three
ipywidgets drop-downs — run, subspace, colouring — and a matplotlib drawing that the kernel
redraws whenever one of them changes. The drawing is an :class:`ipywidgets.Image` holding a
PNG, so the kernel holds the picture it shows (no pyplot state, no output capture).

ipywidgets is needed only here (a live notebook), so it is imported when the controls are
made; :func:`projection_points` and :func:`draw` work without it.
"""

from __future__ import annotations

import io

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from mvlib.core.errors import MvlibError
from mvlib.report.explorer import PALETTE, SUBSPACES

#: a class present / absent, as in the explorer
PRESENT, ABSENT = "#d62728", "#c8c8c8"


def projection_points(data: dict, run: str, subspace: str, colour: str) -> dict:
    """What one choice of the controls draws.

    Parameters
    ----------
    data : :func:`mvlib.report.explorer.projection_data` dictionary
    run, subspace, colour : a run label, ``"z_s"`` or ``"z_p"``, a colouring name

    Returns
    -------
    dict with ``xy`` (ndarray[N x 2], drawing order: a colouring by class puts the clips with
    the class present on top), ``colours`` (N hex colours), ``labels`` (N hover texts) and
    ``caption``
    """
    entry = data["runs"][run]
    assert subspace in entry, f"{run}: no {subspace} projection"
    xy = np.asarray(entry[subspace], np.float64).reshape(-1, 2)  # (N, 2)
    idx = np.asarray(entry["idx"], np.int64)  # (N,) clip indices into data["clips"]
    codes = np.asarray(data["colourings"][colour], np.int64)[idx]  # (N,)
    by_sensor = colour == "sensor"
    order = np.arange(len(idx)) if by_sensor else np.argsort(codes, kind="stable")
    xy, idx, codes = xy[order], idx[order], codes[order]
    if by_sensor:
        colours = [PALETTE[c % len(PALETTE)] for c in codes]
        what = f"{len(idx)} clips of {len(set(codes.tolist()))} sensors"
    else:
        colours = [PRESENT if c else ABSENT for c in codes]
        what = f"{len(idx)} clips, {int(codes.sum())} with the class present (red)"
    sensor_of = data["colourings"]["sensor"]
    labels = [f"{data['clips'][i]} · sensor {data['sensors'][sensor_of[i]]}" for i in idx]
    caption = f"{run} — {subspace} coloured by {colour}: {what}"
    return {"xy": xy, "colours": colours, "labels": labels, "caption": caption}


def draw(points: dict) -> Figure:
    """A matplotlib Figure of :func:`projection_points`' answer (no pyplot state)."""
    fig = Figure(figsize=(5.2, 4.2), dpi=90, layout="constrained")
    ax = fig.add_subplot()
    ax.scatter(points["xy"][:, 0], points["xy"][:, 1], c=points["colours"], s=14, linewidths=0)
    ax.set_xlabel("PC 1")
    ax.set_ylabel("PC 2")
    ax.set_title(points["caption"], fontsize=8)
    return fig


def png(fig: Figure) -> bytes:
    """The figure as PNG bytes."""
    buf = io.BytesIO()
    FigureCanvasAgg(fig).print_png(buf)
    return buf.getvalue()


class ProjectionWidgets:
    """Drop-downs (run, subspace, colouring) and the projection they choose, redrawn live.

    Parameters
    ----------
    data : :func:`mvlib.report.explorer.projection_data` dictionary (chapter 5's
        ``projections``)
    run : the run shown first (default: the first)

    Attributes
    ----------
    run, subspace, colour : ipywidgets.Dropdown
    image : ipywidgets.Image, the PNG of the current drawing
    figure : the matplotlib Figure behind ``image``
    drawn : ``(run, subspace, colour, number of points)`` of the current drawing
    box : the whole panel (what a notebook displays)
    """

    def __init__(self, data: dict, run: str | None = None):
        try:
            import ipywidgets  # optional dependency: ipywidgets (live notebooks only)
        except ImportError as e:
            raise MvlibError(
                "ipywidgets", "not installed", "pip install ipywidgets (chapter 5's live controls)"
            ) from e
        assert data["runs"], "no multi-view runs to project"
        self.data = data
        subspaces = [s for s in SUBSPACES if any(s in r for r in data["runs"].values())]
        self.run = ipywidgets.Dropdown(
            options=list(data["runs"]), value=run or next(iter(data["runs"])), description="run"
        )
        self.subspace = ipywidgets.Dropdown(options=subspaces, description="subspace")
        self.colour = ipywidgets.Dropdown(options=list(data["colourings"]), description="colour")
        self.image = ipywidgets.Image(format="png")
        self.caption = ipywidgets.Label()
        self.figure: Figure | None = None
        self.drawn: tuple = ()
        for control in (self.run, self.subspace, self.colour):
            control.observe(self.redraw, names="value")
        self.box = ipywidgets.VBox(
            [ipywidgets.HBox([self.run, self.subspace, self.colour]), self.image, self.caption]
        )
        self.redraw()

    def points(self) -> dict:
        """:func:`projection_points` of the controls' current values."""
        return projection_points(self.data, self.run.value, self.subspace.value, self.colour.value)

    def redraw(self, change=None) -> None:
        """Draw the current choice into ``image`` (called by every control's change)."""
        pts = self.points()
        self.figure = draw(pts)
        self.image.value = png(self.figure)
        self.caption.value = pts["caption"]
        self.drawn = (self.run.value, self.subspace.value, self.colour.value, len(pts["xy"]))

    def _repr_mimebundle_(self, **kwargs):
        return self.box._repr_mimebundle_(**kwargs)


def projection_widgets(data: dict, run: str | None = None) -> ProjectionWidgets:
    """Chapter 5's live controls over ``data`` (see :class:`ProjectionWidgets`).

    Examples
    --------
    >>> panel = projection_widgets(projections)  # doctest: +SKIP
    >>> panel  # in Jupyter: three drop-downs and the drawing  # doctest: +SKIP
    """
    return ProjectionWidgets(data, run)
