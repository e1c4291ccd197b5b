"""apply_model: seamless, chunking-independent, lazy, scheduler-agnostic patch inference."""

from __future__ import annotations

import dataclasses
import math
import sys
from pathlib import Path

import dask
import dask.array as da
import numpy as np
import pytest
from affine import Affine
from odc.geo.geobox import GeoBox

sys.path.insert(0, str(Path(__file__).parent))  # patch_models, also for spawned Dask workers
import patch_models as pm

from xharm.core.cube import make_cube
from xharm.engine.apply import FunctionHandle, apply_model, load_predict_fn, window
from xharm.exceptions import DimensionError, GridError, MissingBandError
from xharm.spec import InputGroup, ModelSpec, NormStats, OutputGroup, mgan_spec

SPEC = mgan_spec(16)  # 48 / 24 / 16 px, buffer 4, kept centre 8 (30 m px)
X0, Y0 = 600000.0, 5000040.0  # on the S2 tile lattice (multiples of 60 m), as real tiles are
TIMES = ["2021-06-01", "2021-06-11"]


def _gbox(h: int, w: int, res: float, dx: float = 0.0) -> GeoBox:
    return GeoBox((h, w), Affine(res, 0.0, X0 + dx, 0.0, -res, Y0), "EPSG:32632")


def scene(h: int, w: int, seed: int = 0, nt: int = 2, chunks: dict | None = None):
    """S2 10 m / 20 m cubes over an ``h x w`` 30 m footprint (20 m rounded up)."""
    rng = np.random.default_rng(seed)
    h20, w20 = math.ceil(1.5 * h), math.ceil(1.5 * w)
    x10 = rng.random((nt, 4, 3 * h, 3 * w), dtype=np.float32)
    x20 = rng.random((nt, 2, h20, w20), dtype=np.float32)
    if chunks:
        x10 = da.from_array(x10, chunks=(1, 2, chunks["y"] * 3, chunks["x"] * 3))
        x20 = da.from_array(x20, chunks=(1, 1, chunks["y"], chunks["x"]))
    c10 = make_cube(
        x10, geobox=_gbox(3 * h, 3 * w, 10), bands=pm_bands("10"), sensor="sentinel-2a", time=TIMES[:nt]
    )
    c20 = make_cube(
        x20, geobox=_gbox(h20, w20, 20), bands=pm_bands("20"), sensor="sentinel-2a", time=TIMES[:nt]
    )
    return {"s2_10m": c10, "s2_20m": c20}


def pm_bands(res: str) -> list[str]:
    return ["B02", "B03", "B04", "B08"] if res == "10" else ["B11", "B12"]


def whole(fn, cubes, h: int, w: int, pad: int = 0) -> np.ndarray:
    """The function applied to each whole image at once: (T, C, h, w).

    ``pad`` (30 m px) surrounds the image with zeros first (at 10 m: 3 * pad, at 20 m:
    1.5 * pad), i.e. the image is treated as one large patch whose margin is the buffer.
    """
    outs = []
    for t in range(cubes["s2_10m"].sizes["time"]):
        batch = {}
        for k, v in cubes.items():
            f = 30 / abs(v.odc.geobox.resolution.x)
            q = int(pad * f)
            img = np.moveaxis(np.asarray(v.values[t], np.float32), 0, -1)
            batch[k] = np.pad(img, ((q, q), (q, q), (0, 0)))[None]
        outs.append(np.moveaxis(fn(batch)[0], -1, 0)[:, pad : pad + h, pad : pad + w])
    return np.stack(outs)


# -------------------------------------------------------------------------- seamlessness


@pytest.mark.parametrize("h,w", [(37, 29), (16, 16), (9, 50)])
@pytest.mark.parametrize("chunk", [8, 16, 24, 512])
@pytest.mark.parametrize("kind", ["linear", "pool"])
def test_pixelwise_models_are_stitched_exactly(kind, chunk, h, w):
    cubes = scene(h, w, seed=h * w)
    fn = pm.make(kind, **({"group": "s2_10m"} if kind == "linear" else {}))
    if kind == "linear":  # output 30 m from a per-pixel map of the 10 m bands, 3x3 mean afterwards
        inner = fn
        fn = lambda b: pm.pool()({"s2_10m": inner(b)[..., :4], "s2_20m": b["s2_20m"]})  # noqa: E731
    out = apply_model(cubes, SPEC, fn, chunks={"y": chunk, "x": chunk, "time": 1})
    assert out.shape == (2, 6, h, w)
    np.testing.assert_array_equal(out.values, whole(fn, cubes, h, w))


@pytest.mark.parametrize("h,w,chunk", [(37, 29, 8), (21, 40, 16), (30, 30, 512)])
def test_identity_per_band_exact(h, w, chunk):
    rng = np.random.default_rng(1)
    data = rng.random((2, 3, h, w), dtype=np.float32)
    cube = make_cube(data, geobox=_gbox(h, w, 30), bands=["B2", "B3", "B4"], sensor="landsat-8", time=TIMES)
    spec = ModelSpec(
        "copy",
        "0",
        (InputGroup("l8in", ("B2", "B3", "B4"), 30, 16),),
        OutputGroup("l8", ("B2", "B3", "B4"), 30, 16),
        sensor_in="landsat-8",
    )
    out = apply_model({"l8in": cube}, spec, pm.identity("l8in"), chunks={"y": chunk, "x": chunk})
    np.testing.assert_array_equal(out.values, data)


@pytest.mark.parametrize("chunk", [8, 24])
def test_conv_net_matches_whole_image(chunk):
    """Receptive field (2 px) < buffer (4 px): no seams. A net with two spatial layers sees,
    at the image border, activations computed from the zero fill outside the image; the
    whole-image reference therefore gets the same zero margin (``pad=buffer``)."""
    h, w = 35, 27
    cubes = scene(h, w, seed=3)
    fn = pm.conv(seed=5)
    out = apply_model(cubes, SPEC, fn, chunks={"y": chunk, "x": chunk}, batch_size=5)
    np.testing.assert_allclose(out.values, whole(fn, cubes, h, w, pad=4), atol=1e-6, rtol=0)
    # away from the image border the margin plays no role
    inner = whole(fn, cubes, h, w)[..., 1:-1, 1:-1]
    np.testing.assert_allclose(out.values[..., 1:-1, 1:-1], inner, atol=1e-6, rtol=0)
    assert np.abs(out.values).max() > 0.1  # the net does something


def test_seams_would_show_without_buffer():
    """The test above can fail: with buffer 0 the conv net's patch edges differ from the whole image."""
    h, w = 32, 32
    cubes = scene(h, w, seed=4)
    fn = pm.conv(seed=5)
    spec0 = ModelSpec("m", "0", SPEC.inputs, SPEC.output, buffer=0.0)
    out = apply_model(cubes, spec0, fn, chunks={"y": 16, "x": 16})
    assert np.abs(out.values - whole(fn, cubes, h, w, pad=4)).max() > 1e-3


# -------------------------------------------------------------------------- chunking, laziness


def test_dask_input_chunking_does_not_matter():
    h, w = 37, 29
    ref = apply_model(scene(h, w, seed=9), SPEC, pm.conv(seed=2)).values
    for c in ({"y": 5, "x": 7}, {"y": 13, "x": 30}):
        out = apply_model(scene(h, w, seed=9, chunks=c), SPEC, pm.conv(seed=2), chunks={"y": 16, "x": 8})
        np.testing.assert_allclose(out.values, ref, atol=1e-6, rtol=0)


def test_lazy_until_computed(compute_counter):
    calls = []

    def fn(batch):
        calls.append(len(batch["s2_10m"]))
        return pm.pool()(batch)

    cubes = scene(20, 20, chunks={"y": 7, "x": 7})
    out = apply_model(cubes, SPEC, fn, chunks={"y": 8, "x": 8})
    assert compute_counter.calls == 0 and calls == []
    assert out.dtype == np.float32 and out.chunks[2] == (8, 8, 4)
    out.compute()
    assert compute_counter.calls == 1
    assert calls and min(calls) >= 1  # never called on an empty batch


def test_threaded_scheduler_and_handle():
    h, w = 30, 22
    cubes = scene(h, w, seed=6, chunks={"y": 9, "x": 9})
    handle = FunctionHandle("patch_models:make", (("kind", "conv"), ("seed", 1)))
    with dask.config.set(scheduler="threads", num_workers=2):
        out = apply_model(cubes, SPEC, handle, chunks={"y": 8, "x": 8}).values
    np.testing.assert_allclose(out, whole(pm.conv(seed=1), cubes, h, w, pad=4), atol=1e-6, rtol=0)
    assert load_predict_fn(handle) is load_predict_fn(FunctionHandle(handle.target, handle.kwargs))


def test_distributed_local_cluster_loads_once_per_worker():
    distributed = pytest.importorskip("distributed")
    h, w = 30, 22
    cubes = scene(h, w, seed=7, chunks={"y": 9, "x": 9})
    handle = FunctionHandle("patch_models:make", (("kind", "pool"),))
    with (
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
        ) as cl,
        distributed.Client(cl) as client,
    ):
        out = apply_model(cubes, SPEC, handle, chunks={"y": 8, "x": 8}).compute()
        loads = client.run(lambda: __import__("patch_models").LOADS)
    np.testing.assert_array_equal(out.values, whole(pm.pool(), cubes, h, w))
    assert len(loads) == 2 and all(v <= 1 for v in loads.values()) and sum(loads.values()) >= 1


# -------------------------------------------------------------------------- NaN, normalization


def test_nan_inputs_mask_only_their_footprint():
    h, w = 16, 16
    cubes = scene(h, w, nt=1)
    x10, x20 = cubes["s2_10m"].values.copy(), cubes["s2_20m"].values.copy()
    x10[0, 2, 3 * 5 + 2, 3 * 7] = np.nan  # 30 m pixel (5, 7)
    x20[0, 1, 1, 0] = np.nan  # 20 m row 1 ([20, 40) m) lies under 30 m rows 0 and 1, col 0 under col 0
    cubes = {"s2_10m": cubes["s2_10m"].copy(data=x10), "s2_20m": cubes["s2_20m"].copy(data=x20)}
    out = apply_model(cubes, SPEC, pm.pool(), chunks={"y": 8, "x": 8}).values
    nan = np.isnan(out[0]).any(axis=0)
    expected = np.zeros((h, w), bool)
    expected[5, 7] = expected[0, 0] = expected[1, 0] = True
    np.testing.assert_array_equal(nan, expected)


def test_normalization_round_trip_through_identity_model():
    h, w = 20, 20
    rng = np.random.default_rng(2)
    data = rng.random((1, 2, h, w), dtype=np.float32) * 0.5
    cube = make_cube(data, geobox=_gbox(h, w, 30), bands=["B2", "B3"], sensor="landsat-8", time=TIMES[:1])
    st = NormStats(("B2", "B3"), (0.1, 0.05), (0.4, 0.45), (0.2, 0.25), (0.3, 0.2))
    spec = ModelSpec(
        "copy",
        "0",
        (InputGroup("a", ("B2", "B3"), 30, 16),),
        OutputGroup("o", ("B2", "B3"), 30, 16),
        norm={"a": st, "o": st},
        sensor_in="landsat-8",
    )
    seen = []

    def fn(b):
        seen.append(b["a"])
        return b["a"].copy()

    out = apply_model({"a": cube}, spec, fn).values
    expected = np.clip(data, np.array(st.low)[:, None, None], np.array(st.high)[:, None, None])
    np.testing.assert_allclose(out, expected, atol=1e-6, rtol=0)
    assert max(np.abs(s).max() for s in seen) <= 1.0 + 1e-6  # the model saw normalized values


# -------------------------------------------------------------------------- errors


def test_errors_before_any_compute(compute_counter):
    cubes = scene(16, 16)
    with pytest.raises(MissingBandError, match="s2_20m"):
        apply_model({"s2_10m": cubes["s2_10m"]}, SPEC, pm.pool())
    with pytest.raises(MissingBandError, match="B11"):
        apply_model({**cubes, "s2_20m": cubes["s2_20m"].sel(band=["B12"])}, SPEC, pm.pool())
    at10 = make_cube(
        np.ones((2, 2, 48, 48)), geobox=_gbox(48, 48, 10), bands=["B11", "B12"], sensor="S2A", time=TIMES
    )
    with pytest.raises(GridError, match="resolution"):
        apply_model({**cubes, "s2_20m": at10}, SPEC, pm.pool())
    shifted = make_cube(
        cubes["s2_20m"].values,
        geobox=_gbox(24, 24, 20, dx=5.0),
        bands=["B11", "B12"],
        sensor="sentinel-2a",
        time=TIMES,
    )
    with pytest.raises(GridError, match="pixel edge"):
        apply_model({**cubes, "s2_20m": shifted}, SPEC, pm.pool())
    assert compute_counter.calls == 0


def test_wrong_model_output_shape_is_named():
    def bad(b):
        return np.zeros((len(b["s2_10m"]), 16, 16, 5), np.float32)

    with pytest.raises(DimensionError, match="wrong shape"):  # NumPy in: computed at once
        apply_model(scene(16, 16), SPEC, bad)
    out = apply_model(scene(16, 16, chunks={"y": 8, "x": 8}), SPEC, bad)  # lazy: when computed
    with pytest.raises(DimensionError, match="wrong shape"):
        out.compute()


def test_numpy_in_numpy_out_same_blocks_as_the_graph():
    """NumPy inputs are computed at once (no graph), block by block as the Dask graph does:
    the same batches, so the same values to the bit, for several chunks and dates."""
    h, w = 37, 29
    fn = pm.conv(seed=2)
    now = apply_model(scene(h, w, seed=9, nt=2), SPEC, fn, chunks={"y": 16, "x": 8}, batch_size=3)
    assert isinstance(now.data, np.ndarray) and now.shape == (2, 6, h, w)
    lazy = apply_model(
        scene(h, w, seed=9, nt=2, chunks={"y": 40, "x": 40}), SPEC, fn, chunks={"y": 16, "x": 8}, batch_size=3
    )
    assert isinstance(lazy.data, da.Array)
    np.testing.assert_array_equal(now.values, lazy.values)
    assert now.attrs == lazy.attrs and now.odc.geobox == lazy.odc.geobox


@pytest.mark.parametrize("start,stop", [(-3, 4), (2, 9), (-2, 10), (8, 11), (-5, -1), (0, 6)])
def test_window_pads_outside(start, stop):
    x = np.arange(6.0)
    expected = np.array([x[i] if 0 <= i < 6 else -1.0 for i in range(start, stop)])
    np.testing.assert_array_equal(window(x, 0, start, stop, fill=-1.0), expected)
    lazy = window(da.from_array(x, chunks=2), 0, start, stop, fill=-1.0)
    assert isinstance(lazy, da.Array)
    np.testing.assert_array_equal(lazy.compute(), expected)


def test_every_model_call_sees_one_batch_shape():
    """The odd last batch is padded (issue 20: it cost a fresh XLA compile per job); results unchanged."""
    cubes = scene(10, 14, seed=3)
    fn = pm.make("linear", group="s2_10m")
    seen = []

    def recording(batch):
        seen.append({k: v.shape[0] for k, v in batch.items()})
        return fn(batch)

    pooled = lambda b: pm.pool()({"s2_10m": recording(b)[..., :4], "s2_20m": b["s2_20m"]})  # noqa: E731
    out = apply_model(cubes, SPEC, pooled, batch_size=5).values
    assert seen and all(set(s.values()) == {5} for s in seen)
    ref = apply_model(
        cubes, SPEC, lambda b: pm.pool()({"s2_10m": fn(b)[..., :4], "s2_20m": b["s2_20m"]}), batch_size=1
    )
    np.testing.assert_array_equal(out, ref.values)


def test_a_block_is_never_copied_whole():
    """Issue 20 (memory): the kernel takes Dask's block as it is and makes one normalized copy,
    its NaN filled in place (before: a concatenated copy, a normalized copy and a NaN-filled
    copy of every block)."""
    import tracemalloc

    h = w = 96
    cubes = scene(h, w, nt=1)
    x10 = cubes["s2_10m"].values.copy()
    x10[0, :, :5] = np.nan  # a NaN strip: the fill step runs
    cubes["s2_10m"] = cubes["s2_10m"].copy(data=da.from_array(x10, chunks=(1, 4, 3 * h, 3 * w)))
    cubes["s2_20m"] = cubes["s2_20m"].chunk({"y": -1, "x": -1})
    st = NormStats(tuple(pm_bands("10")), (0.0,) * 4, (0.9,) * 4, (0.5,) * 4, (0.25,) * 4)
    spec = dataclasses.replace(SPEC, norm={"s2_10m": st})
    fn = lambda b: pm.pool()({"s2_10m": b["s2_10m"], "s2_20m": b["s2_20m"]})  # noqa: E731
    lazy = apply_model(cubes, spec, fn, chunks={"y": h, "x": w}, batch_size=4)
    block = x10.nbytes  # the 10 m input of the one output chunk (its halo is outside the scene)
    with dask.config.set(scheduler="sync"):
        da.asarray(lazy.data).sum().compute()  # warm up (imports, caches)
        tracemalloc.start()
        out = lazy.values
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    # what must exist: the input (Dask's block and the NaN-padded window it is cut from), the
    # normalized copy and its NaN mask, the 20 m input, the output: measured 3.37x (5.37x
    # before); one more whole copy of the block would take it past 4x
    assert peak < 4.0 * block, f"peak {peak / block:.2f} x the 10 m block"
    ref = apply_model({k: v.compute() for k, v in cubes.items()}, spec, fn, batch_size=4).values
    np.testing.assert_array_equal(out, ref)
