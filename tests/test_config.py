"""Profiles, overrides, serialisation round trips and schema errors (mvlib.config)."""

import pytest
import yaml

from mvlib import config as C


@pytest.mark.parametrize("profile", ["base", "default", "paper", "ci"])
def test_every_profile_loads_and_round_trips(profile):
    cfg = C.load_config(profile)
    assert cfg.profile == profile
    again = C.from_dict(yaml.safe_load(yaml.safe_dump(C.to_dict(cfg))))
    assert again == cfg


def test_base_yml_lists_every_field_with_its_dataclass_default():
    # base.yml is the documentation of every field: it must not drift from the dataclasses
    with open(C.PARAMS_DIR / "base.yml") as f:
        raw = yaml.safe_load(f)
    defaults = C.to_dict(C.Config())
    for section, values in defaults.items():
        if section == "profile":
            continue
        assert set(raw[section]) == set(values), f"base.yml section {section!r} out of sync"


def test_inheritance_merges_sections_recursively():
    ci, default = C.load_config("ci"), C.load_config("default")
    assert ci.synth.n_sensors == 12 and default.synth.n_sensors > 12
    # a field ci does not touch comes from default.yml, then base.yml
    assert ci.features.frontend == "logmel" and default.features.frontend in ("logmel", "dac")
    assert ci.train.lr == default.train.lr == 1e-3
    assert C.load_config("paper").features.frontend == "dac"


def test_paper_profile_has_the_papers_recipe():
    p = C.load_config("paper")
    assert (p.train.batch_size, p.train.lr, p.train.epochs) == (16, 1e-3, 100)
    assert p.features.loudness_lufs == -24.0 and p.features.sample_rate == 44100
    assert p.split.n_pairs == (39000, 6000, 11000)
    assert not p.features.allow_random_dac


def test_dotted_overrides_and_env_profile(monkeypatch):
    cfg = C.load_config("ci", {"objective.objective": "cos_minus", "train.seed": 3})
    assert cfg.objective.objective == "cos_minus" and cfg.train.seed == 3
    monkeypatch.setenv(C.PROFILE_ENV, "ci")
    assert C.load_config().profile == "ci"


@pytest.mark.parametrize(
    "key, value, message",
    [
        ("objective.objective", "cos", "is not one of"),
        ("train.epochs", "ten", "expected int"),
        ("train.epochs", True, "expected int"),
        ("train.nope", 1, "no field 'nope'"),
        ("nosection.x", 1, "no section 'nosection'"),
        ("split.n_pairs", 5, "expected a list"),
        ("model.method", None, "None is not allowed"),
    ],
)
def test_bad_overrides_name_the_key(key, value, message):
    with pytest.raises(C.ConfigError, match=message):
        C.load_config("ci", {key: value})


def test_unknown_yaml_key_and_missing_profile(tmp_path):
    bad = tmp_path / "bad.yml"
    bad.write_text("train:\n  epochz: 3\n")
    with pytest.raises(C.ConfigError, match=r"train: unknown key\(s\) \['epochz'\]"):
        C.load_config(bad)
    with pytest.raises(C.ConfigError, match="no profile 'nonexistent'"):
        C.load_config("nonexistent")


def test_circular_inherits_is_an_error(tmp_path):
    (tmp_path / "a.yml").write_text("inherits: b.yml\n")
    (tmp_path / "b.yml").write_text("inherits: a.yml\n")
    with pytest.raises(C.ConfigError, match="circular"):
        C.load_config(tmp_path / "a.yml")


def test_config_hash_is_stable_and_sensitive():
    a = C.load_config("ci")
    assert C.config_hash(a) == C.config_hash(C.load_config("ci"))
    assert C.config_hash(a) != C.config_hash(a.replace({"train.seed": 1}))


def test_configs_are_frozen():
    cfg = C.load_config("ci")
    with pytest.raises(AttributeError):
        cfg.train.seed = 5


def test_auto_frontend_resolves_to_dac_only_with_real_weights(tmp_path, monkeypatch):
    monkeypatch.delenv("MVLIB_DAC_WEIGHTS", raising=False)
    monkeypatch.setattr("mvlib.features.DAC_CACHE_FILE", tmp_path / "absent.pth")
    assert C.load_config("default").features.frontend == "logmel"
    weights = tmp_path / "weights_44khz_8kbps_0.0.1.pth"
    weights.write_bytes(b"x")
    monkeypatch.setenv("MVLIB_DAC_WEIGHTS", str(weights))
    assert C.load_config("default").features.frontend == "dac"
    # an explicit choice is never changed
    assert C.load_config("ci", {"features.frontend": "logmel"}).features.frontend == "logmel"
