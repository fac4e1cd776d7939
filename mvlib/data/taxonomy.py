"""The SONYC-UST label taxonomy and the column names built from it.

The taxonomy file ships with the package (it is data, MIT-licensed by the
SONYC project). ``annotations.csv`` column names are derived from it:

* coarse presence: ``<c>_<coarse-name>_presence`` (e.g. ``1_engine_presence``)
* fine presence: ``<c>-<f>_<fine-name>_presence``
* fine proximity: ``<c>-<f>_<fine-name>_proximity`` (near, far, notsure, -1)
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import yaml

TAXONOMY_FILE = Path(__file__).with_name("dcase-ust-taxonomy.yaml")

#: Metadata columns of SONYC-UST-V2's annotations.csv, in file order.
META_COLUMNS = (
    "split",
    "sensor_id",
    "audio_filename",
    "annotator_id",
    "borough",
    "block",
    "latitude",
    "longitude",
    "year",
    "week",
    "day",
    "hour",
)
#: Per-clip columns kept after aggregation (annotator_id is aggregated away).
CLIP_COLUMNS = tuple(c for c in META_COLUMNS if c != "annotator_id")
#: the dataset split of a clip: the values of its ``split`` column (SONYC-UST's own)
DATASET_SPLITS = ("train", "validate", "test")
PROXIMITY_VALUES = ("near", "far", "notsure", "-1")


@cache
def load_taxonomy() -> dict:
    """Return the taxonomy as ``{"coarse": {1: name}, "fine": {1: {"1": name}}}``."""
    with open(TAXONOMY_FILE) as f:
        raw = yaml.safe_load(f)
    coarse = {int(k): str(v) for k, v in raw["coarse"].items()}
    fine = {int(c): {str(k): str(v) for k, v in d.items()} for c, d in raw["fine"].items()}
    assert sorted(coarse) == list(range(1, 9)), f"expected 8 coarse classes, got {sorted(coarse)}"
    return {"coarse": coarse, "fine": fine}


def coarse_names() -> tuple[str, ...]:
    """The 8 coarse class names in taxonomy order (engine … dog)."""
    tax = load_taxonomy()["coarse"]
    return tuple(tax[c] for c in sorted(tax))


def coarse_label_columns() -> tuple[str, ...]:
    """Per-clip label column names, ``<c>_<name>`` (e.g. ``1_engine``)."""
    tax = load_taxonomy()["coarse"]
    return tuple(f"{c}_{tax[c]}" for c in sorted(tax))


def coarse_presence_columns() -> tuple[str, ...]:
    """``annotations.csv`` coarse presence columns, ``<c>_<name>_presence``."""
    return tuple(f"{c}_presence" for c in coarse_label_columns())


def fine_columns() -> tuple[tuple[str, str], ...]:
    """``(presence, proximity)`` column names of every fine class, taxonomy order."""
    tax = load_taxonomy()
    out = []
    for c in sorted(tax["fine"]):
        for f, name in tax["fine"][c].items():
            stem = f"{c}-{f}_{name}"
            out.append((f"{stem}_presence", f"{stem}_proximity"))
    return tuple(out)


def annotation_columns() -> tuple[str, ...]:
    """All columns of SONYC-UST-V2's annotations.csv, in the order mvlib writes them."""
    fine = fine_columns()
    return (
        META_COLUMNS
        + tuple(p for p, _ in fine)
        + coarse_presence_columns()
        + tuple(x for _, x in fine)
    )
