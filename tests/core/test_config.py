"""Profiles, overrides, serialisation round trips and schema errors (mvlib.core.config)."""

import pytest
import yaml

from mvlib.core import config as C


@pytest.mark.parametrize("profile", ["base", "default", "paper", "ci"])
def test_every_profile_loads_and_round_trips(profile):
    cfg = C.read_profile(profile)
    assert cfg.profile == profile
    again = C.from_dict(yaml.safe_load(yaml.safe_dump(C.to_dict(cfg))))
    assert again == cfg


def test_base_yml_lists_every_field_with_its_dataclass_default():
    # base.yml is the documentation of every field: it must not drift from the dataclasses
    with open(C.PARAMS_DIR / "base.yml") as f:
        raw = yaml.safe_load(f)
    defaults = C.to_dict(C.Config(), complete=True)
    for section, values in defaults.items():
        if section == "profile":
            continue
        assert set(raw[section]) == set(values), f"base.yml section {section!r} out of sync"


def test_inheritance_merges_sections_recursively():
    ci, default = C.read_profile("ci"), C.read_profile("default")
    assert ci.synth.n_sensors == 12 and default.synth.n_sensors > 12
    # a field ci does not touch comes from default.yml, then base.yml
    # auto stays auto here: the frontend layer resolves it (tests/frontend/test_choice.py)
    assert ci.features.frontend == "logmel" and default.features.frontend == "auto"
    assert ci.train.lr == default.train.lr == 3e-3  # default.yml's, ci.yml leaves it
    assert ci.train.weight_decay == default.train.weight_decay == 0.01  # base.yml's
    assert C.read_profile("paper").features.frontend == "dac"


def test_paper_profile_has_the_papers_recipe():
    p = C.read_profile("paper")
    assert (p.train.batch_size, p.train.lr, p.train.epochs) == (16, 1e-3, 100)
    assert p.features.loudness_lufs == -24.0 and p.features.sample_rate == 44100
    assert p.split.n_pairs == (39000, 6000, 11000)
    assert not p.features.allow_random_dac


def test_dotted_overrides_and_env_profile(monkeypatch):
    cfg = C.read_profile("ci", {"objective.objective": "cos_minus", "train.seed": 3})
    assert cfg.objective.objective == "cos_minus" and cfg.train.seed == 3
    monkeypatch.setenv(C.PROFILE_ENV, "ci")
    assert C.read_profile().profile == "ci"


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
        C.read_profile("ci", {key: value})


def test_unknown_yaml_key_and_missing_profile(tmp_path):
    bad = tmp_path / "bad.yml"
    bad.write_text("train:\n  epochz: 3\n")
    with pytest.raises(C.ConfigError, match=r"train: unknown key\(s\) \['epochz'\]"):
        C.read_profile(bad)
    with pytest.raises(C.ConfigError, match="no profile 'nonexistent'"):
        C.read_profile("nonexistent")


def test_circular_inherits_is_an_error(tmp_path):
    (tmp_path / "a.yml").write_text("inherits: b.yml\n")
    (tmp_path / "b.yml").write_text("inherits: a.yml\n")
    with pytest.raises(C.ConfigError, match="circular"):
        C.read_profile(tmp_path / "a.yml")


def test_config_hash_is_stable_and_sensitive():
    a = C.read_profile("ci")
    assert C.config_hash(a) == C.config_hash(C.read_profile("ci"))
    assert C.config_hash(a) != C.config_hash(a.replace({"train.seed": 1}))


def test_configs_are_frozen():
    cfg = C.read_profile("ci")
    with pytest.raises(AttributeError):
        cfg.train.seed = 5


# --------------------------------------------------------------------------- issue 15


@pytest.mark.parametrize(
    "key, value",
    [
        ("train.epochs", -1),
        ("train.epochs", 0),
        ("train.batch_size", 0),
        ("features.batch_size", 0),
        ("probe.batch_size", 0),
        ("objective.mask_ratio", -0.5),
        ("objective.mask_ratio", 1.0),
        ("model.dropout", 1.0),
        ("probe.dropout", -0.1),
        ("model.hidden", 0),
        ("model.depth", 0),
        ("train.lr", 0.0),
        ("train.lr", float("nan")),
        ("probe.lr", -1e-3),
        ("split.n_pairs", [10, 0, 5]),
        ("split.sensor_fractions", [0.5, 0.5, 0.5]),
        ("split.downstream_fractions", [1.0, 0.0, 0.0]),
        ("synth.split_fractions", [1.2, -0.1, -0.1]),
        ("synth.n_sensors", 0),
        ("sweep.mask_ratios", [0.4, 1.5]),
        ("train.crop_frames", 0),
    ],
)
def test_range_checks_name_the_field(key, value):
    with pytest.raises(C.ConfigError) as e:
        C.read_profile("ci", {key: value})
    err = e.value
    assert err.culprit == key and "out of range" in err.what and err.fix
    from mvlib.core.errors import MvlibError, format_error

    assert isinstance(err, MvlibError)
    line = format_error(err)
    assert line.startswith(f"mvlib: error: {key}: ") and "\n" not in line


def test_values_at_the_edge_of_their_range_load():
    cfg = C.read_profile(
        "ci",
        {"objective.mask_ratio": 0.0, "model.dropout": 0.0, "train.epochs": 1, "model.depth": 1},
    )
    assert cfg.objective.mask_ratio == 0.0 and cfg.model.depth == 1
    assert C.read_profile("ci", {"synth.split_fractions": [1.0, 0.0, 0.0]}).synth.split_fractions


def test_mask_objective_with_negative_ratio_is_refused_at_load(tmp_path):
    prof = tmp_path / "m.yml"
    prof.write_text("inherits: ci\nobjective:\n  objective: mask\n  mask_ratio: -0.5\n")
    with pytest.raises(C.ConfigError, match=r"objective\.mask_ratio: -0\.5 is out of range"):
        C.read_profile(prof)


def test_profile_outside_params_inherits_a_name_or_a_relative_path(tmp_path):
    (tmp_path / "sub").mkdir()
    by_name = tmp_path / "sub" / "mine.yml"
    by_name.write_text("inherits: ci\ntrain:\n  epochs: 3\n")
    cfg = C.read_profile(by_name)
    assert cfg.profile == "mine" and cfg.train.epochs == 3
    assert cfg.synth.n_sensors == C.read_profile("ci").synth.n_sensors  # from params/ci.yml
    child = tmp_path / "child.yaml"
    child.write_text("inherits: sub/mine.yml\ntrain:\n  seed: 7\n")
    cfg = C.read_profile(str(child))
    assert (cfg.train.epochs, cfg.train.seed, cfg.split.n_pairs) == (3, 7, (256, 64, 64))


def test_bad_inherits_and_bad_yaml_name_the_file(tmp_path):
    p = tmp_path / "x.yml"
    p.write_text("inherits: nowhere\n")
    with pytest.raises(C.ConfigError) as e:
        C.read_profile(p)
    assert e.value.culprit == str(p.resolve()) and "nowhere" in e.value.what
    p.write_text("train: [unclosed\n")
    with pytest.raises(C.ConfigError, match="not valid YAML"):
        C.read_profile(p)
    with pytest.raises(C.ConfigError, match="no profile"):
        C.read_profile(tmp_path / "absent.yml")


_BAD_CANDIDATES = (
    -1,
    0,
    -0.5,
    1.0,
    1.5,
    7000,
    9,
    float("nan"),
    [],
    [-1.0, 1.0, 1.0],
    [1.5],
    "bogus",
)


@pytest.mark.parametrize("section, name", sorted(C._RANGES), ids=lambda x: str(x))
def test_every_range_rule_refuses_a_bad_value_naming_its_field(section, name):
    sec = {cls.__name__: key for key, cls in C._SECTIONS.items()}[section]
    key = f"{sec}.{name}"
    default = getattr(getattr(C.Config(), sec), name)
    tried = 0
    for bad in _BAD_CANDIDATES:
        if isinstance(default, tuple) != isinstance(bad, list):
            continue
        if isinstance(bad, list) and len(bad) == 3 and len(default) != 3:
            continue
        try:
            C.Config().replace({key: bad})
        except C.ConfigError as e:
            if "out of range" in e.what:
                assert e.culprit == key and e.fix
                tried += 1
    assert tried >= 1, f"no candidate value was refused for {key}"
