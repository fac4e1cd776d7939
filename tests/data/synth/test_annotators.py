"""Tests of mvlib.data.synth.annotators.

Simulated annotators: SONYC row semantics, verified rows, noise rates.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
from synth_cases import SMALL, annotations_of

from mvlib.data import taxonomy
from mvlib.data.synth import annotators
from mvlib.data.synth.annotators import clip_annotations
from mvlib.data.synth.plan import clip_plan, sensor_params
from mvlib.data.synth.truth import load_truth


def test_annotator_rows_follow_sonyc_semantics(small):
    ann = annotations_of(small)
    for (split, name), rows in ann.groupby(["split", "audio_filename"]):
        ids = rows["annotator_id"].to_numpy()
        vol = ids[ids > 0]
        assert len(vol) == SMALL.n_volunteers and len(set(vol)) == len(vol), name
        assert ((ids == 0).sum() == 1) == (split != "train"), name
        assert (ids < 0).sum() == 0 or split == "train", name


def test_verified_rows_equal_truth(small):
    ann, truth = annotations_of(small), load_truth(small)["clips"].set_index("audio_filename")
    ver = ann[ann["annotator_id"] == 0].set_index("audio_filename")
    assert len(ver) == (truth["split"] != "train").sum() > 0
    fine_cols = annotators._fine_cols()
    for name, row in ver.iterrows():
        t = truth.loc[name]
        for c, col in enumerate(taxonomy.coarse_label_columns(), start=1):
            assert row[f"{col}_presence"] == t[col], (name, col)
            for f, (pc, xc) in fine_cols[c].items():
                hit = bool(t[col]) and f == t[f"{col}_fine"]
                assert row[pc] == int(hit), (name, pc)
                assert row[xc] == (t[f"{col}_proximity"] if hit else "-1"), (name, xc)


def test_fine_columns_consistent_with_coarse(small):
    ann = annotations_of(small)
    for c, cols in annotators._fine_cols().items():
        coarse = ann[taxonomy.coarse_presence_columns()[c - 1]].to_numpy()
        fine = ann[[p for p, _ in cols.values()]].to_numpy()
        prox = ann[[x for _, x in cols.values()]].to_numpy()
        assert np.array_equal(fine.max(axis=1), coarse)  # -1 group: all -1
        assert np.array_equal(fine.min(axis=1) == -1, coarse == -1)
        assert np.array_equal(prox != "-1", fine == 1)


def test_volunteer_noise_rates_match_config():
    cfg = replace(
        SMALL, n_sensors=1, volunteer_miss=0.2, volunteer_false_alarm=0.05, n_volunteers=3
    )
    params = sensor_params(cfg, 0)
    hits = {"tp": 0, "fn": 0, "fp": 0, "tn": 0, "unl": 0}
    for k in range(1500):
        sources = clip_plan(cfg, 0, k, params)["sources"]
        truth = {ev.coarse for ev in sources}
        for row in clip_annotations(cfg, 0, k, "train", {}, sources):
            if row["annotator_id"] <= 0:
                continue
            for c, col in enumerate(taxonomy.coarse_presence_columns(), start=1):
                v = row[col]
                key = (
                    "unl"
                    if v == -1
                    else ("tp" if v else "fn") if c in truth else ("fp" if v else "tn")
                )
                hits[key] += 1
    miss = hits["fn"] / (hits["tp"] + hits["fn"])
    fa = hits["fp"] / (hits["fp"] + hits["tn"])
    unl = hits["unl"] / sum(hits.values())
    assert abs(miss - 0.2) < 0.02, hits
    assert abs(fa - 0.05) < 0.01, hits
    assert abs(unl - annotators.P_UNLABELLED_VOLUNTEER) < 0.005, hits
