"""benchmarks/design.py: a row's variance parts predict paired_difference for any design."""

import dataclasses
import json
import math
import sys
from pathlib import Path

import numpy as np
import pytest

from mvlib.evaluate.significance import mdd, paired_difference
from mvlib.report.results import TASKS

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "benchmarks"))
import design  # noqa: E402  (benchmarks/design.py: a script, not a package)

SENSORS, PER_SENSOR = 12, 48  # the default's test partition: 12 sensors x 48 clips


def _split(rng, units: int, unit_sd: float, offset: float = 0.0):
    """One split's score matrices a, b [units x clips]: seed effects, sensor effects, a
    unit x sensor interaction and clip noise in the difference a - b."""
    n = SENSORS * PER_SENSOR
    sensor = np.repeat(np.arange(SENSORS), PER_SENSOR)
    b = rng.uniform(0.3, 0.7, size=(units, n))
    d = (
        offset
        + rng.normal(0, unit_sd, size=(units, 1))
        + rng.normal(0, 0.02, size=SENSORS)[sensor]
        + rng.normal(0, 0.01, size=(units, SENSORS))[:, sensor]
        + rng.normal(0, 0.1, size=(units, n))
    )
    return b + d, b, sensor


def _two_splits(rng, seeds: int, unit_sd: float, split_sd: float):
    """Two splits of ``seeds`` units each, on their own clips and sensors (NaN elsewhere)."""
    a0, b0, s0 = _split(rng, seeds, unit_sd, rng.normal(0, split_sd))
    a1, b1, s1 = _split(rng, seeds, unit_sd, rng.normal(0, split_sd))
    nan = np.full_like(a0, np.nan)
    a = np.block([[a0, nan], [nan, a1]])
    b = np.block([[b0, nan], [nan, b1]])
    return a, b, np.concatenate([s0, s1 + SENSORS])


def _same(pred, p, m: int = 8):
    assert pred.se == pytest.approx(p.se, rel=1e-9)
    assert pred.se_units == pytest.approx(p.se_units, rel=1e-9, abs=1e-12)
    assert pred.se_sensors == pytest.approx(p.se_sensors, rel=1e-9)
    assert pred.resolvable == p.resolvable


@pytest.mark.parametrize("unit_sd", [0.0, 0.005, 0.02, 0.05])
def test_the_same_design_is_predicted_exactly(unit_sd):
    a, b, sensor = _split(np.random.default_rng(1), 3, unit_sd)
    c = design.components(a, b, sensor)
    pred = design.predict(c, design.BASE, design.BASE, m=8)
    p = paired_difference(a, b, clusters=sensor)
    _same(pred, p)
    assert pred.df == pytest.approx(p.df, rel=1e-9)
    assert pred.mdd == pytest.approx(mdd(p.se, 0.05 / 8, 0.8, df=p.df), rel=1e-9)


def test_two_balanced_splits_are_predicted_exactly():
    a, b, sensor = _two_splits(np.random.default_rng(2), 3, 0.02, 0.05)
    c = design.components(a, b, sensor)
    assert c.split > 0  # the splits differ beyond their own variance
    two = design.Design(3, 2, 80, 15)
    _same(design.predict(c, two, design.BASE, m=16), paired_difference(a, b, clusters=sensor))


def test_units_and_clips_scale_their_parts():
    a, b, sensor = _split(np.random.default_rng(3), 3, 0.03)
    c = design.components(a, b, sensor)
    assert c.unit > 0 and c.clip > 0 and c.inter >= 0
    base = design.predict(c, design.BASE, design.BASE, m=8)
    six = design.predict(c, design.Design(6, 1, 80), design.BASE, m=8)
    assert six.se_units**2 == pytest.approx(base.se_units**2 / 2)  # doubling units halves it
    v_c = c.sensor + (c.inter + c.clip / c.n_clips) / 6
    assert six.se_sensors**2 == pytest.approx(v_c)
    more_clips = design.predict(c, design.Design(3, 1, 160), design.BASE, m=8)
    assert more_clips.se_sensors**2 == pytest.approx(c.sensor + (c.inter + c.clip / 1152) / 3)
    assert more_clips.se_units == pytest.approx(base.se_units)  # clips leave the units alone
    four = design.predict(c, design.Design(4, 1, 80), design.BASE, m=8)
    assert four.resolvable and four.p_too_few == 0.0  # 3 replicates: never too few


def test_too_few_units_is_predicted_exactly_when_paired_difference_marks_it():
    rng = np.random.default_rng(4)
    marks = []
    for unit_sd in [0.0, 0.003, 0.006, 0.01, 0.02, 0.04] * 4:
        a, b, sensor = _split(rng, 3, unit_sd)
        c = design.components(a, b, sensor)
        pred = design.predict(c, design.BASE, design.BASE, m=8)
        p = paired_difference(a, b, clusters=sensor)
        assert pred.resolvable == p.resolvable, unit_sd
        marks.append(p.resolvable)
    for split_sd in [0.0, 0.02, 0.08] * 3:  # two splits: the split term's replicates
        a, b, sensor = _two_splits(rng, 3, 0.03, split_sd)
        pred = design.predict(
            design.components(a, b, sensor), design.Design(3, 2), design.BASE, m=8
        )
        p = paired_difference(a, b, clusters=sensor)
        assert pred.resolvable == p.resolvable, split_sd
        marks.append(p.resolvable)
    assert any(marks) and not all(marks)  # both kinds of row were built


def test_the_chance_of_too_few_units_with_two_splits():
    c = design.Components(
        unit=3e-4, sensor=5e-5, inter=0.0, clip=0.0, split=math.nan, sensors=12, n_clips=576
    )
    pred = design.predict(c, design.Design(3, 2), design.BASE, m=8)
    assert pred.resolvable  # no split variance: the split term is 0 in expectation...
    assert pred.p_too_few == pytest.approx(0.3173, abs=1e-3)  # ...but positive by chance
    c = dataclasses.replace(c, split=1.5e-4)  # as large as one split's own variance
    with_split = design.predict(c, design.Design(3, 2), design.BASE, m=8)
    assert not with_split.resolvable  # 1 replicate for the split term


def test_the_cost_model_reproduces_the_default_build(tmp_path):
    for i, (epochs, outside) in enumerate([(15, 3.0), (4, 2.0), (11, 2.5)]):
        run = tmp_path / f"run{i}"
        run.mkdir()
        rows = ["epoch,split,total,seconds"]
        rows += [f"{e},{s},1.0,0.5" for e in range(epochs) for s in ("train", "val")]
        (run / "losses.csv").write_text("\n".join(rows) + "\n")
        claim = {"since": 100.0 + i, "released": 100.0 + i + epochs * 0.5 + outside}
        (run / "run.claim.json").write_text(json.dumps(claim))
    model = design.cost_model(tmp_path, codec_chapter4_s=220.0)
    default = json.loads((design.RESULTS / "book-default.json").read_text())
    assert model.base == design.calibration(default)  # the design that file measured
    assert model.seconds(model.base)["total"] == pytest.approx(default["wall_s"])
    assert model.epoch_share(10) == pytest.approx((10 + 4 + 10) / (15 + 4 + 11))
    more = model.seconds(design.Design(model.base.seeds + 2, 1, 80))
    assert more["04_ablations"] > model.seconds(model.base)["04_ablations"]
    assert more["01_data_pairing"] == pytest.approx(default["chapters"]["01_data_pairing"])


class _Cost:
    """A cost of 150 s per unit per 80 clips per 15 epochs (no fixed part)."""

    def seconds(self, d):
        return {"total": 150.0 * d.units * d.clips / 80 * d.epochs / 15}


def test_the_rule_keeps_a_cost_margin_and_the_training_length():
    c = design.Components(
        unit=3e-4, sensor=5e-5, inter=1e-4, clip=0.05, split=math.nan, sensors=12, n_clips=576
    )
    comps = {f"table{t}|row{i}|{task}": c for t in (1, 2) for i in range(6) for task in TASKS}
    today = design.Design(4, 1, 80, 15)
    table = design.candidates_table(comps, _Cost(), today)
    by = {r["design"]: r for r in table}
    assert by["5s×1k 80c 15e"]["fits"]  # 750 s <= 0.9 x 900 s
    assert not by["6s×1k 80c 15e"]["fits"]  # 900 s: within budget, not within the margin
    assert not by["3s×1k 80c 15e"]["fits"]  # its units' part dominates on 2 replicates
    fit = [r for r in table if r["fits"]]
    best = min((r for r in fit if r["epochs"] == 15), key=lambda r: r["summary"]["all"])
    assert any(r["epochs"] == 10 and r["summary"]["all"] < best["summary"]["all"] for r in fit)
    recommended = [r["design"] for r in table if r.get("recommended")]
    assert recommended == [best["design"]]  # the training length kept: no 10-epoch design
    assert [r["design"] for r in table if r["default"]] == [today.label]
