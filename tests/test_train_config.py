"""TrainConfig: paper defaults, presets, overrides, JSON."""

from __future__ import annotations

import pytest

from xharm.exceptions import ConfigError
from xharm.models.mgan import MGANConfig
from xharm.train.config import TrainConfig


def test_paper_defaults():
    cfg = TrainConfig()
    assert cfg.learning_rate == 1e-4 and cfg.local_batch == 16 and cfg.epochs == 100
    assert cfg.model == MGANConfig.full() and cfg.augment.enabled
    assert cfg.learning_rate_for(8) == pytest.approx(8e-4)  # scaled linearly with devices
    assert TrainConfig(scale_lr_with_devices=False).learning_rate_for(8) == pytest.approx(1e-4)
    assert cfg.clip_percentiles == (1.0, 99.0)  # the paper's 1st/99th percentile clip
    assert cfg.sam_weight == 0.0 and cfg.input_holes == 0.0  # the paper: no angle term, no input holes


def test_presets_and_round_trip():
    for name in ("full", "small", "tiny"):
        cfg = TrainConfig.preset(name)
        assert TrainConfig.from_json(cfg.to_json()) == cfg
        hash(cfg)
    assert TrainConfig.preset("small").model.features == 16


def test_overrides():
    cfg = TrainConfig.preset("tiny").with_overrides(
        ["epochs=3", "model.features=4", 'augment.policy=["cutout"]', "prng=threefry2x32"]
    )
    assert (cfg.epochs, cfg.model.features, cfg.augment.policy, cfg.prng) == (
        3,
        4,
        ("cutout",),
        "threefry2x32",
    )
    cfg = TrainConfig.preset("tiny").with_overrides(["clip_percentiles=[0.1, 99.9]"])
    assert cfg.clip_percentiles == (0.1, 99.9) and TrainConfig.from_json(cfg.to_json()) == cfg
    bad_cases = (["epochs"], ["nope=1"], ["model.nope=1"], ["local_batch=0"], ["prng=mt"])
    bad_cases += (["sam_weight=-1"], ["l1_weight=-0.5"], ["input_holes=1.5"])
    bad_cases += (["clip_percentiles=[99, 1]"], ["clip_percentiles=[1]"], ["clip_percentiles=[-1, 99]"])
    for bad in bad_cases:
        with pytest.raises(ConfigError):
            TrainConfig.preset("tiny").with_overrides(bad)


@pytest.mark.parametrize("item", ["learning_rate=abc", "epochs=1.5", "epochs=true", "progress=3", "seed=[1]"])
def test_override_of_the_wrong_type_is_refused(item):
    with pytest.raises(ConfigError, match="wrong type"):
        TrainConfig.preset("tiny").with_overrides([item])


def test_override_int_for_float_is_fine():
    assert TrainConfig.preset("tiny").with_overrides(["learning_rate=1"]).learning_rate == 1.0
