"""Ground-truth disentanglement measures and the DSCΔ rank check (mvlib.evaluate.disentangle)."""

import numpy as np
import pandas as pd
import pytest

from mvlib.evaluate import disentangle as D


@pytest.fixture()
def factors():
    rng = np.random.default_rng(0)
    n, sensors = 240, np.repeat(np.arange(8), 30)
    channel_of_sensor = rng.normal(size=(8, 3))
    channels = channel_of_sensor[sensors] + 0.05 * rng.normal(size=(n, 3))
    sources = (rng.random((n, 4)) < 0.4).astype(int)
    return rng, sensors, channels, sources


def test_channel_information_is_high_for_a_linear_code_and_low_for_noise(factors):
    rng, sensors, channels, _ = factors
    coded = channels @ rng.normal(size=(3, 6)) + 0.01 * rng.normal(size=(240, 6))
    assert D.channel_information(coded, channels) > 0.95
    assert D.channel_information(rng.normal(size=(240, 6)), channels) < 0.1


def test_source_information_separable_vs_noise(factors):
    rng, _, _, sources = factors
    coded = np.hstack([sources * 3.0, rng.normal(size=(240, 2))])
    assert D.source_information(coded, sources) > 0.95
    assert abs(D.source_information(rng.normal(size=(240, 6)), sources) - 0.5) < 0.1


def test_between_sensor_share_limits(factors):
    rng, sensors, _, _ = factors
    per_sensor = rng.normal(size=(8, 5))[sensors]
    assert D.between_sensor_share(per_sensor, sensors) == pytest.approx(1.0)
    noise = rng.normal(size=(240, 5))
    assert D.between_sensor_share(noise, sensors) < 0.1


def test_subspace_truth_directional_signs(factors):
    """gt_priv and gt_shared mirror eqs. 6 and 7: positive in the desired direction."""
    rng, sensors, channels, sources = factors
    z_p = np.hstack([sources * 3.0, 0.1 * rng.normal(size=(240, 3))])  # sources only
    z_s = channels @ rng.normal(size=(3, 6))  # channel only
    good = D.subspace_truth(z_p, z_s, sources, channels, sensors)
    assert good["gt_priv"] > 0.3 and good["gt_shared"] > 0.5
    bad = D.subspace_truth(z_s, z_p, sources, channels, sensors)
    assert bad["gt_priv"] == pytest.approx(-good["gt_priv"])
    assert bad["gt_shared"] == pytest.approx(-good["gt_shared"])


def test_rank_agreement_and_reading():
    t = pd.DataFrame(
        {
            "dsc_priv": [0.1, 0.2, 0.3, 0.4],
            "gt_priv": [1, 2, 3, 4],
            "dsc_shared": [0.4, 0.3, 0.2, 0.1],
            "gt_shared": [1, 2, 3, 4],
        }
    )
    a = D.rank_agreement(t)
    assert a.loc["dsc_priv", "spearman rho"] == pytest.approx(1.0)
    assert a.loc["dsc_shared", "spearman rho"] == pytest.approx(-1.0)
    text = D.reading(a)
    assert "orders configurations much as" in text and "does not order" in text
    small = D.rank_agreement(t.iloc[:2])
    assert np.isnan(small.loc["dsc_priv", "spearman rho"])
    assert "too few configurations" in D.reading(small)


def test_source_information_equals_per_class_ridge_and_skips_rare_classes():
    from sklearn.linear_model import RidgeClassifierCV
    from sklearn.metrics import balanced_accuracy_score
    from sklearn.model_selection import KFold, cross_val_predict
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    rng = np.random.default_rng(1)
    Z = rng.normal(size=(200, 5))
    sources = np.stack([Z[:, 0] > 0.3, Z[:, 1] + rng.normal(size=200) > 0], 1).astype(int)
    rare = np.zeros((200, 1), int)
    rare[:3] = 1  # 3 positives < 5 folds: left out
    got = D.source_information(Z, np.hstack([sources, rare]), folds=5, seed=4)
    cv = KFold(5, shuffle=True, random_state=4)
    ref = []
    for c in range(2):  # one classifier per class gives the same predictions
        m = make_pipeline(StandardScaler(), RidgeClassifierCV(alphas=np.logspace(-2, 4, 13)))
        ref.append(
            balanced_accuracy_score(sources[:, c], cross_val_predict(m, Z, sources[:, c], cv=cv))
        )
    assert got == pytest.approx(np.mean(ref))
    assert np.isnan(D.source_information(Z, rare))
