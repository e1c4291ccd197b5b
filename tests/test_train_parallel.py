"""Data parallelism: a pmap step over 2 (simulated CPU) devices equals the single-device step."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from xharm.exceptions import ConfigError
from xharm.train.parallel import shard_batch

ROOT = Path(__file__).resolve().parents[1]

SCRIPT = textwrap.dedent(
    """
    import jax, numpy as np
    assert jax.local_device_count() == 2, jax.local_devices()
    from xharm.train.config import TrainConfig
    from xharm.train.loop import fit

    rng = np.random.default_rng(0)
    base = TrainConfig.preset("tiny").with_overrides(
        ["val_fraction=0", "epochs=1", "max_steps=1", "sam_weight=20"]
    )
    s = base.model.input_shapes()
    data = {g: rng.uniform(0, 0.4, (8, *s[g])).astype(np.float32) for g in ("s2_10m", "s2_20m", "l8")}
    # 2 devices x 4 patches, lr scaled to 2e-4 ...
    par = fit(base.with_overrides(["devices=2", "local_batch=4"]), data, "RUN/par", export=False)
    # ... equals 1 device x 8 patches with lr 2e-4
    one = fit(base.with_overrides(["devices=1", "local_batch=8", "learning_rate=2e-4"]), data, "RUN/one",
              export=False)
    assert int(par.state.step) == int(one.state.step) == 1
    diff = max(float(np.abs(np.asarray(a, np.float64) - np.asarray(b, np.float64)).max())
               for a, b in zip(jax.tree_util.tree_leaves(par.state), jax.tree_util.tree_leaves(one.state)))
    moved = max(float(np.abs(np.asarray(a) - np.asarray(b)).max())
                for a, b in zip(jax.tree_util.tree_leaves(par.state.g_params),
                                jax.tree_util.tree_leaves(fit.__globals__["create_state"](base).g_params)))
    h1, h2 = par.history[-1], one.history[-1]
    for k in ("g_loss", "g_l1", "g_adv", "g_sam", "d_loss"):
        assert abs(h1[k] - h2[k]) <= 1e-5 * max(1.0, abs(h2[k])), (k, h1[k], h2[k])
    print("MAXDIFF", diff, "MOVED", moved)
    assert diff < 1e-5, diff
    assert moved > 1e-4  # the step did something (lr 2e-4)
    """
)


def test_pmap_step_equals_single_device_step(tmp_path):
    env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=2", JAX_PLATFORMS="cpu")
    code = SCRIPT.replace("RUN", str(tmp_path))
    res = subprocess.run(
        [sys.executable, "-c", code], env=env, cwd=ROOT, capture_output=True, text=True, timeout=600
    )
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    assert "MAXDIFF" in res.stdout
    print(res.stdout.strip().splitlines()[-1])


def test_global_batch_must_split_over_devices():
    b = {"l8": np.zeros((7, 2, 2, 6)), "id": np.arange(7)}
    with pytest.raises(ConfigError, match="cannot be split over 2 devices"):
        shard_batch(b, 2)
    out = shard_batch({"l8": np.zeros((8, 2, 2, 6))}, 2)
    assert out["l8"].shape == (2, 4, 2, 2, 6)


def test_too_many_devices_is_a_clear_error():
    from xharm.train.config import TrainConfig
    from xharm.train.parallel import resolve_devices

    with pytest.raises(ConfigError, match="xla_force_host_platform_device_count"):
        resolve_devices(TrainConfig.preset("tiny").with_overrides(["devices=64"]).devices)
