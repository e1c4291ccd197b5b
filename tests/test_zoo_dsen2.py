"""DSen2 zoo files: msgpack + spec with checksum; tampering is refused; the bundled starters load."""

from __future__ import annotations

import numpy as np
import pytest

from xharm.exceptions import CorruptProductError
from xharm.models.dsen2 import DSen2Config
from xharm.zoo import available, resolve
from xharm.zoo.dsen2 import DSen2Predictor, dsen2_spec, init_params, load_dsen2, save_dsen2


def test_round_trip_and_checksum(tmp_path):
    cfg = DSen2Config.preset("tiny")
    p = init_params(cfg, seed=1)
    spec = save_dsen2(tmp_path, p, cfg, patch=32, meta={"note": "x"})
    spec2, p2, cfg2 = load_dsen2(tmp_path)
    assert spec2 == spec and cfg2 == cfg and dict(spec.meta)["processing_level"] == "L1C"
    batch = {"s2_10m": np.ones((1, 32, 32, 4), np.float32), "s2_20m": np.ones((1, 16, 16, 6), np.float32)}
    np.testing.assert_array_equal(DSen2Predictor(spec, p, cfg)(batch), DSen2Predictor(spec2, p2, cfg2)(batch))
    w = tmp_path / "weights.msgpack"
    w.write_bytes(w.read_bytes()[:-1] + b"\x00")
    with pytest.raises(CorruptProductError, match="checksum"):
        load_dsen2(tmp_path)


def test_spec_geometry():
    s = dsen2_spec(DSen2Config.preset("small", 6), 192)
    assert [(g.name, g.patch) for g in s.groups] == [
        ("s2_10m", 192),
        ("s2_20m", 96),
        ("s2_60m", 32),
        ("s2_sharp", 192),
    ]
    assert s.buffer_px == 24 and s.output.bands == ("B01", "B09")


def test_an_hpf_anchored_spec_takes_the_physics_group_at_10m(tmp_path):
    cfg = DSen2Config(blocks=1, features=8, anchor="hpf", bound=0.25)
    s = dsen2_spec(cfg, 64)
    assert s.anchored and [(g.name, g.resolution, g.patch) for g in s.inputs][-1] == ("physics", 10.0, 64)
    assert s.inputs[-1].bands == cfg.out_bands
    save_dsen2(tmp_path / "m", init_params(cfg, 32), cfg, patch=64)
    assert load_dsen2(tmp_path / "m")[2] == cfg


def test_bundled_starter_loads():
    assert "dsen2-starter" in available()
    spec, _, cfg = load_dsen2(resolve("dsen2-starter"))
    assert dict(spec.meta)["processing_level"] == "L1C" and "T33UUB" in dict(spec.meta)["held_out"]
    assert cfg.blocks >= 1
    # the starter is anchored on the classical high-pass injection, its correction bounded
    assert spec.anchored and cfg.anchor == "hpf" and 0 < cfg.bound * 0.2 <= 0.05
    assert float(dict(spec.meta)["correction_bound"]) == 0.05
