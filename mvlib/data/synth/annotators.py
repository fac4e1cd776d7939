"""Annotator simulation: the crowd, team and verified rows of each clip's annotations.

Volunteers miss sources, hear false alarms, name fine classes vaguely (``X``) and leave
class groups unlabelled (-1), as in SONYC-UST-V2; the SONYC team labels some train clips;
validate/test clips get the verified row (annotator 0), equal to the truth.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from mvlib.core.synth_config import SynthConfig
from mvlib.data import taxonomy
from mvlib.data.synth.plan import ANNOT, PROXIMITIES, SourceEvent, stream_rng

#: chance that an annotator leaves a whole class group unlabelled (-1)
P_UNLABELLED_VOLUNTEER = 0.02
P_UNLABELLED_TEAM = 0.3
P_TEAM_ROW = 0.25  #: share of train clips that also get a SONYC team row
P_TRUE_FINE = 0.6  #: a volunteer who hears a source names its fine class (else "X")
P_TRUE_PROXIMITY = 0.7


@lru_cache(maxsize=1)
def _fine_cols() -> dict[int, dict[str, tuple[str, str]]]:
    """``{coarse: {fine code: (presence column, proximity column)}}`` (cached: do not mutate)."""
    tax = taxonomy.load_taxonomy()["fine"]
    return {
        c: {f: (f"{c}-{f}_{name}_presence", f"{c}-{f}_{name}_proximity") for f, name in d.items()}
        for c, d in tax.items()
    }


@lru_cache(maxsize=1)
def _coarse_presence_columns() -> tuple[str, ...]:
    return taxonomy.coarse_presence_columns()


def _label_group(row: dict, c: int, state: str, fine: str | None, prox: str | None) -> None:
    """Fill coarse class ``c``'s columns of ``row``: state is present, absent or unlabelled."""
    cols = _fine_cols()[c]
    coarse_col = _coarse_presence_columns()[c - 1]
    for f, (pc, xc) in cols.items():
        row[pc] = -1 if state == "unlabelled" else int(state == "present" and f == fine)
        row[xc] = prox if (state == "present" and f == fine) else "-1"
    row[coarse_col] = {"present": 1, "absent": 0, "unlabelled": -1}[state]


def _noisy_row(truth: dict, rng: np.random.Generator, miss: float, fa: float, p_unl: float) -> dict:
    """One crowd/team annotation of a clip: misses, false alarms, vague fine classes."""
    row: dict = {}
    for c in range(1, 9):
        t_fine, t_prox = truth.get(c, (None, None))
        u = rng.uniform(size=4)
        if u[0] < p_unl:
            _label_group(row, c, "unlabelled", None, None)
            continue
        heard = (u[1] >= miss) if t_fine is not None else (u[1] < fa)
        if not heard:
            _label_group(row, c, "absent", None, None)
            continue
        codes = tuple(_fine_cols()[c])
        if t_fine is None:  # false alarm: any fine column, any proximity
            fine, prox = str(rng.choice(codes)), str(rng.choice(PROXIMITIES))
        else:
            fine = t_fine if (u[2] < P_TRUE_FINE or "X" not in codes) else "X"
            prox = t_prox if u[3] < P_TRUE_PROXIMITY else str(rng.choice(PROXIMITIES))
        _label_group(row, c, "present", fine, prox)
    return row


def _verified_row(truth: dict) -> dict:
    row: dict = {}
    for c in range(1, 9):
        fine, prox = truth.get(c, (None, None))
        _label_group(row, c, "present" if fine else "absent", fine, prox)
    return row


def clip_annotations(
    cfg: SynthConfig,
    sensor: int,
    clip: int,
    dataset_split: str,
    meta: dict,
    sources: list[SourceEvent],
) -> list[dict]:
    """All annotation rows of one clip (SONYC semantics of ``annotator_id``).

    Every clip gets ``n_volunteers`` volunteer rows (distinct ids > 0); some train
    clips also get a SONYC team row (id < 0, groups often -1); validate/test clips
    get the verified row (id 0) equal to the truth.
    """
    rng = stream_rng(cfg, ANNOT, sensor, clip)
    truth = {ev.coarse: (ev.fine, ev.proximity) for ev in sources}
    rows = []
    ids = rng.choice(np.arange(1, 2001), size=cfg.n_volunteers, replace=False)
    for a in ids:
        r = _noisy_row(
            truth, rng, cfg.volunteer_miss, cfg.volunteer_false_alarm, P_UNLABELLED_VOLUNTEER
        )
        rows.append({**meta, "annotator_id": int(a), **r})
    if dataset_split == "train" and rng.uniform() < P_TEAM_ROW:
        r = _noisy_row(truth, rng, 0.05, 0.01, P_UNLABELLED_TEAM)
        rows.append({**meta, "annotator_id": -int(rng.integers(1, 11)), **r})
    if dataset_split != "train":
        rows.append({**meta, "annotator_id": 0, **_verified_row(truth)})
    return rows
