"""Orbax checkpoints of the GAN state."""

from __future__ import annotations

import jax
import numpy as np

from xharm.train.checkpoint import Checkpointer
from xharm.train.config import TrainConfig
from xharm.train.state import create_state


def test_save_restore_and_keep(tmp_path):
    cfg = TrainConfig.preset("tiny")
    st = create_state(cfg)
    other = create_state(cfg.with_overrides(["seed=1"]))
    with Checkpointer(tmp_path, every=2, keep=2) as ck:
        assert ck.latest_step() is None
        assert not ck.save(1, st)  # not due
        assert ck.save(2, st.replace(step=st.step + 2))
        assert ck.save(4, other.replace(step=other.step + 4))
        assert ck.save(5, st.replace(step=st.step + 5), force=True)
        assert ck.latest_step() == 5
        restored = ck.restore(other, step=4)
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.isdigit()) == ["4", "5"]
    assert int(restored.step) == 4
    for a, b in zip(jax.tree_util.tree_leaves(restored), jax.tree_util.tree_leaves(other.replace(step=4))):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    with Checkpointer(tmp_path, every=2, keep=2) as ck:  # a new process sees the same
        assert ck.latest_step() == 5 and ck.steps() == [4, 5]
        np.testing.assert_array_equal(np.asarray(ck.restore(other).key), np.asarray(st.key))
