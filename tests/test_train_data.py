"""Patch sets: stores without pickle, seeded order, batches, normalization stats."""

from __future__ import annotations

import numpy as np
import pytest

from xharm.exceptions import DimensionError, EmptyDataError, MissingBandError, ProductNotFoundError
from xharm.spec import mgan_spec
from xharm.train.data import (
    PatchSet,
    batch_at,
    epoch_order,
    load_patches,
    norm_stats_from_patches,
    save_patches,
    steps_per_epoch,
)


def arrays(n: int = 10, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {
        "s2_10m": rng.uniform(0, 0.5, (n, 12, 12, 4)).astype(np.float32),
        "s2_20m": rng.uniform(0, 0.5, (n, 6, 6, 2)).astype(np.float32),
        "l8": rng.uniform(0, 0.5, (n, 4, 4, 6)).astype(np.float32),
    }


@pytest.mark.parametrize("fmt", ["npy", "zarr"])
def test_store_round_trip(tmp_path, fmt):
    a = arrays()
    spec = mgan_spec(8)
    norm = norm_stats_from_patches(PatchSet(a), spec)
    save_patches(tmp_path / "p", PatchSet(a, norm), fmt=fmt)
    ps = load_patches(tmp_path / "p")
    for g in a:
        np.testing.assert_array_equal(np.asarray(ps.arrays[g]), a[g])
    assert ps.norm == norm and not ps.normalized


def test_store_errors(tmp_path):
    with pytest.raises(ProductNotFoundError):
        load_patches(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ProductNotFoundError):
        load_patches(tmp_path / "empty")
    a = arrays()
    del a["l8"]
    with pytest.raises(MissingBandError, match="l8"):
        PatchSet(a)
    a = arrays()
    a["l8"] = a["l8"][:3]
    with pytest.raises(DimensionError):
        PatchSet(a)


def test_epoch_order_and_batches():
    ps = PatchSet(arrays(10))
    assert steps_per_epoch(10, 4) == 2
    with pytest.raises(EmptyDataError):
        steps_per_epoch(3, 4)
    np.testing.assert_array_equal(epoch_order(10, 1, 2), epoch_order(10, 1, 2))
    assert not np.array_equal(epoch_order(10, 1, 2), epoch_order(10, 1, 3))
    ids = [batch_at(ps, s, 4, seed=1)["id"] for s in range(2)]
    assert len(set(np.concatenate(ids))) == 8  # no repeats within an epoch
    b = batch_at(ps, 3, 4, seed=1)  # epoch 1, second batch
    np.testing.assert_array_equal(np.sort(epoch_order(10, 1, 1)[4:8]), b["id"])
    np.testing.assert_array_equal(b["l8"], ps.arrays["l8"][b["id"]])


def test_norm_stats_follow_the_paper():
    a = arrays(20)
    a["l8"][0, 0, 0, 0] = np.nan
    stats = norm_stats_from_patches(PatchSet(a), mgan_spec(8))
    x = a["s2_10m"][..., 1].astype(np.float64).ravel()
    lo, hi = np.percentile(x, [1, 99])
    s = stats["s2_10m"]
    assert s.bands == ("B02", "B03", "B04", "B08")
    assert s.low[1] == pytest.approx(lo) and s.high[1] == pytest.approx(hi)
    assert s.mean[1] == pytest.approx(np.clip(x, lo, hi).mean())
    assert s.scale[1] == pytest.approx(hi)  # the max of the clipped values
    normed = PatchSet(a, stats).normalize()
    assert normed.normalized and np.isfinite(normed.arrays["l8"]).all()
    assert np.abs(normed.arrays["s2_10m"]).max() <= 1.0 + 1e-6


def test_split_is_seeded_and_disjoint():
    ps = PatchSet(arrays(10))
    tr, va = ps.split(0.3, seed=4)
    assert len(tr) == 7 and len(va) == 3
    tr2, _ = ps.split(0.3, seed=4)
    np.testing.assert_array_equal(tr.arrays["l8"], tr2.arrays["l8"])
    assert ps.split(0.0, 0)[1] is None


def _stored(tmp_path, n, seed):
    """``n`` random patch pairs saved as ``.npy`` and read back memory-mapped: ``(arrays, PatchSet)``."""
    rng = np.random.default_rng(seed)
    arrays = {
        g: rng.uniform(0, 0.5, (n, *shape)).astype(np.float32)
        for g, shape in {"s2_10m": (48, 48, 4), "s2_20m": (24, 24, 2), "l8": (16, 16, 6)}.items()
    }
    save_patches(tmp_path / "p", arrays, fmt="npy")
    return arrays, load_patches(tmp_path / "p")


def test_norm_stats_read_one_band_at_a_time(tmp_path):
    """Memory-mapped training sets of several GB: the stats must not hold a float64 copy of a whole group."""
    import tracemalloc

    spec = mgan_spec(16)
    arrays, ps = _stored(tmp_path, 24, seed=3)
    tracemalloc.start()
    stats = norm_stats_from_patches(ps, spec, (1.0, 99.0))
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    whole_group_f64 = arrays["s2_10m"].size * 8
    # a float64 copy of the whole group alone would reach it; one band and nanpercentile's copies stay below
    assert peak < whole_group_f64
    flat = arrays["s2_10m"].astype(np.float64).reshape(-1, 4)
    np.testing.assert_array_equal(stats["s2_10m"].low, np.percentile(flat, 1.0, axis=0))
    np.testing.assert_allclose(
        stats["s2_10m"].mean, np.clip(flat, *np.percentile(flat, (1, 99), axis=0)).mean(0)
    )


def test_split_and_normalize_stream_from_the_store(tmp_path):
    """A training set larger than memory: split, normalize and batches read only what a batch needs,
    and give what normalizing the whole split at once gives (288 simulated scenes, 11331 patch
    pairs, 10 GB, were killed for memory on a 24 GiB machine when the split was copied twice)."""
    import tracemalloc

    from xharm.train.data import batch_at

    spec = mgan_spec(16)
    arrays, ps = _stored(tmp_path, 64, seed=5)
    stats = norm_stats_from_patches(ps, spec, (1.0, 99.0))
    tracemalloc.start()
    train, val = ps.split(0.25, seed=1)
    train, val = train.with_norm(stats).normalize(), val.with_norm(stats).normalize()  # type: ignore[union-attr]
    batch = batch_at(train, 3, 8, seed=0)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    total = sum(a.nbytes for a in arrays.values())
    assert peak < 0.5 * total  # a batch of 8 of 48 patches and its float copies; copying the split: > total
    index = np.sort(np.random.default_rng([1, 2**31 - 1]).permutation(64)[16:])
    for g, a in arrays.items():
        whole = np.nan_to_num(stats[g].normalize(a[index], axis=-1).astype(np.float32))
        np.testing.assert_allclose(batch[g], whole[batch["id"]], atol=1e-7)
        np.testing.assert_allclose(np.asarray(train.arrays[g]), whole, atol=1e-7)
        assert train.arrays[g].shape == whole.shape and val.arrays[g][np.arange(3)].shape == (3, *a.shape[1:])


def test_anchored_norm_stats_share_the_output_scale_and_keep_the_physics_range():
    import dataclasses

    from xharm.models.mgan import MGANConfig
    from xharm.spec import ANCHOR_GROUP

    cfg = dataclasses.replace(MGANConfig.tiny(), anchor=True, output_activation="linear")
    spec = cfg.spec()
    rng = np.random.default_rng(0)
    arrays = {g: rng.uniform(0.0, 0.3, (4, *shp)).astype("float32") for g, shp in cfg.input_shapes().items()}
    arrays[ANCHOR_GROUP] += 0.2  # the physical baseline brighter than the target
    stats = norm_stats_from_patches(PatchSet(arrays), spec, (1.0, 99.0))
    out, phys = stats[spec.output.name], stats[ANCHOR_GROUP]
    assert phys.mean == out.mean and phys.scale == out.scale  # the correction adds in one unit
    assert not phys.clip and not out.clip
    assert min(phys.low) > max(out.low) + 0.15  # its own training range (the quality flag's)
