"""The training loop: one-epoch smoke run, validation, model export, checkpoint/resume."""

from __future__ import annotations

import json

import jax
import numpy as np
import pytest

from xharm.exceptions import ConfigError
from xharm.train.config import TrainConfig
from xharm.train.data import save_patches
from xharm.train.loop import fit

CFG = TrainConfig.preset("tiny").with_overrides(["val_fraction=0.25", "epochs=2", "checkpoint_every=2"])


def pairs(n: int = 12, seed: int = 0) -> dict[str, np.ndarray]:
    """S2-like inputs whose 30 m block means are the L8-like target (plus noise)."""
    rng = np.random.default_rng(seed)
    p = CFG.model.patch30
    l8 = rng.uniform(0.02, 0.4, (n, p, p, 6)).astype(np.float32)
    x10 = np.repeat(np.repeat(l8[..., :4], 3, 1), 3, 2) + rng.normal(0, 0.01, (n, 3 * p, 3 * p, 4))
    x20 = np.repeat(np.repeat(l8[..., 4:], 3, 1), 3, 2)[:, ::2, ::2]
    return {"s2_10m": x10.astype(np.float32), "s2_20m": x20.astype(np.float32), "l8": l8}


def same(a, b) -> bool:
    return all(
        np.array_equal(np.asarray(x), np.asarray(y))
        for x, y in zip(jax.tree_util.tree_leaves(a), jax.tree_util.tree_leaves(b), strict=True)
    )


def test_one_epoch_smoke(tmp_path):
    save_patches(tmp_path / "pairs.zarr", pairs(), fmt="zarr")
    res = fit(
        CFG.with_overrides(["epochs=1"]), tmp_path / "pairs.zarr", tmp_path / "run", description="synthetic"
    )
    # 12 patches, 3 held out, batch 4 -> 2 steps per epoch
    assert int(res.state.step) == 2 and len(res.history) == 1
    row = res.history[0]
    assert row["step"] == 2 and row["epoch"] == 1.0
    assert all(np.isfinite(row[k]) for k in ("g_l1", "d_loss", "val_l1", "val_rmse", "val_sam"))
    assert 0 < row["val_sam"] < 90 and row["val_rmse"] >= row["val_l1"]
    run = tmp_path / "run"
    assert {"config.json", "norm.json", "history.json", "checkpoints", "model"} <= {
        p.name for p in run.iterdir()
    }
    assert TrainConfig.from_json((run / "config.json").read_text()).epochs == 1
    meta = dict(res.spec.meta)
    assert meta["training_data"] == "synthetic" and "val_l1" in json.loads(meta["metrics"])
    assert res.spec.norm_for("l8") is not None
    # a second run into the same folder must say resume
    with pytest.raises(ConfigError, match="resume"):
        fit(CFG, tmp_path / "pairs.zarr", run)


def test_resume_equals_uninterrupted(tmp_path):
    data = pairs()
    full = fit(CFG, data, tmp_path / "a", export=False)  # 2 epochs = 4 steps, checkpoints at 2 and 4
    assert int(full.state.step) == 4
    first = fit(CFG.with_overrides(["max_steps=2"]), data, tmp_path / "b", export=False)
    assert int(first.state.step) == 2
    del first  # the "killed" process keeps nothing but its checkpoint
    resumed = fit(CFG, data, tmp_path / "b", resume=True, export=False)
    assert int(resumed.state.step) == 4
    assert same(resumed.state, full.state)
    assert [h["step"] for h in resumed.history] == [2, 4]
    np.testing.assert_allclose(resumed.history[-1]["val_l1"], full.history[-1]["val_l1"], rtol=1e-6)


def test_wrong_patch_size_is_reported(tmp_path):
    data = pairs()
    data["l8"] = data["l8"][:, :16, :16]
    with pytest.raises(Exception, match="do not match the model config"):
        fit(CFG, data, tmp_path / "x")


def test_spectral_angle_term_without_stats_is_refused_before_training(tmp_path):
    from xharm.train.data import PatchSet

    normalized = PatchSet(pairs(), normalized=True)  # already normalized, stats unknown
    with pytest.raises(ConfigError, match="sam_weight"):
        fit(CFG.with_overrides(["sam_weight=10"]), normalized, tmp_path / "run")
    assert not (tmp_path / "run").exists()  # nothing written
