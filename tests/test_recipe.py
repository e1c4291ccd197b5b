"""xharm.recipe: `xharm train`, the training recipe of the bundled starter, end to end."""

from __future__ import annotations

import json

import numpy as np
import pytest

from xharm.recipe import train_main
from xharm.train.config import TrainConfig
from xharm.train.data import save_patches


def test_train_main_runs_and_exports(tmp_path, capsys):
    rng = np.random.default_rng(0)
    s = TrainConfig.preset("tiny").model.input_shapes()
    save_patches(tmp_path / "p", {g: rng.uniform(0, 0.3, (8, *s[g])).astype(np.float32) for g in s})
    rc = train_main(
        [
            "tiny",
            "--data",
            str(tmp_path / "p"),
            "--out",
            str(tmp_path / "run"),
            "--max-steps",
            "1",
            "--set",
            "val_fraction=0",
            "--set",
            "epochs=2",
            "--no-progress",
        ]
    )
    assert rc == 0
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert out["steps"] == 1 and (tmp_path / "run" / "model" / "spec.json").is_file()
    # the saved config is a valid CONFIG argument
    rc = train_main([str(tmp_path / "run" / "config.json"), "--data", "x", "--out", "y", "--print-config"])
    assert rc == 0 and json.loads(capsys.readouterr().out)["epochs"] == 2


def test_train_main_errors(tmp_path, capsys):
    assert train_main(["tiny", "--data", str(tmp_path / "none"), "--out", str(tmp_path / "r")]) == 2
    assert "no patch store" in capsys.readouterr().err
    assert train_main(["huge", "--data", "x", "--out", "y"]) == 2
    assert train_main(["tiny", "--data", "x", "--out", "y", "--set", "nope=1"]) == 2


def test_the_starter_recipe_end_to_end_on_a_tiny_config(tmp_path, capsys):
    """simulate -> train -> init-from (grown to B8A + 3x3 skip, skip fitted) -> select -> install -> use."""
    import xharm
    from xharm import simulate
    from xharm.zoo.io import load_model

    tiny = [
        "tiny",
        "--set",
        "model.residual=true",
        "--set",
        'model.output_activation="linear"',
        "--no-progress",
    ]
    sim = ["--scene-km", "2.4", "--scene-dates", "2", "--max-invalid", "0.5", "--first-seed", "301"]
    s1, s2 = tmp_path / "s1", tmp_path / "s2"
    rc = train_main(
        [*tiny, "--simulate", "2", *sim, "--data", str(tmp_path / "p"), "--out", str(s1), "--max-steps", "2"]
    )
    assert rc == 0, capsys.readouterr().err
    assert "xharm.simulate pair_series, seeds 301-302" in (s1 / "description.txt").read_text()
    grown = [
        "--set",
        'model.s2_20m_bands=["B8A", "B11", "B12"]',
        "--set",
        "model.bands_20m=3",
        "--set",
        "model.skip_kernel=3",
    ]
    stage2 = ["--data", str(tmp_path / "p8a"), "--out", str(s2), "--init-from", f"{s1}:2", "--fit-skip"]
    stage2 += ["--max-steps", "4", "--set", "checkpoint_every=1"]
    rc = train_main([*tiny, *grown, "--simulate", "2", *sim, *stage2])
    assert rc == 0, capsys.readouterr().err
    lineage = json.loads((s2 / "init.json").read_text())
    assert lineage["step"] == 2 and lineage["run"] == "s1"  # no absolute path of this machine
    capsys.readouterr()
    rc = train_main(["--out", str(s2), "--select", "901", "--select-km", "1.2", "--select-dates", "1"])
    assert rc == 0, capsys.readouterr().err
    chosen = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert chosen["step"] in (3, 4)  # the start step (2, the fitted skip alone) is no candidate
    assert np.isfinite(chosen["sam"]) and chosen["hls_sam"] > 0
    rc = train_main(["--out", str(s2), "--install", str(tmp_path / "installed")])
    assert rc == 0
    spec, _, config = load_model(tmp_path / "installed")
    assert config.s2_20m_bands == ("B8A", "B11", "B12") and config.skip_kernel == 3
    meta = dict(spec.meta)
    assert meta["steps"] == str(chosen["step"]) and "started_from" in meta
    # the input domain: the sun zenith of the training dates (1 April, 15 October at 48.7 N)
    zen = [
        simulate.pair_series(n_dates=2, size_km=2.4, seed=s, lazy=True).s2_10m["sun_zenith"]
        for s in (301, 302)
    ]
    lo, hi = float(np.min(zen)), float(np.max(zen))
    assert spec.domain["sun_zenith_range"] == [round(lo, 2), round(hi, 2)] and 45 < lo < hi < 62
    ps = simulate.scene("2021-06-15", size_km=1.2, seed=5, cloud_cover=0.0)
    out = xharm.to_landsat({10: ps.s2_10m, 20: ps.s2_20m}, model=str(tmp_path / "installed")).compute()
    assert np.isfinite(out.values).mean() > 0.9


def test_recipe_refuses_held_out_seeds_and_half_stages(tmp_path, capsys):
    assert (
        train_main(
            [
                "tiny",
                "--simulate",
                "3",
                "--first-seed",
                "6",
                "--data",
                str(tmp_path / "p"),
                "--out",
                str(tmp_path / "r"),
            ]
        )
        == 2
    )
    assert "held-out" in capsys.readouterr().err
    assert not (tmp_path / "p" / "l8.npy").exists()
    assert train_main(["tiny", "--data", "x", "--out", str(tmp_path / "r"), "--fit-skip"]) == 2
    assert "--init-from" in capsys.readouterr().err
    assert train_main(["--out", str(tmp_path / "nothing"), "--select"]) == 2
    assert "config.json" in capsys.readouterr().err
    assert train_main(["--out", str(tmp_path / "r")]) == 2
    assert "CONFIG and --data" in capsys.readouterr().err


def test_install_with_a_new_correction_bound_keeps_the_weights(anchored_model, tiny_model, tmp_path):
    import jax

    from xharm.exceptions import ConfigError
    from xharm.recipe import install_model
    from xharm.zoo.io import load_model

    dst = install_model(anchored_model, tmp_path / "tight", bound=0.01)
    spec, params, config = load_model(dst)
    _, before, old = load_model(anchored_model)
    assert spec.domain["correction_bound"] == 0.01 and config.bound == 0.01 and old.bound == 0.05
    same = jax.tree_util.tree_map(lambda a, b: bool(np.allclose(a, b, atol=1e-2)), params, before)
    assert all(jax.tree_util.tree_leaves(same))  # float16 copies of the same weights
    with pytest.raises(ConfigError, match="physics-anchored"):
        install_model(tiny_model, tmp_path / "plain", bound=0.01)
