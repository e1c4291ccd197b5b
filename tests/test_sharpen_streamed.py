"""Chunked classical sharpening: the whole image's values, each output chunk from its neighbours only."""

from __future__ import annotations

import threading

import dask
import dask.array as da
import numpy as np
import pytest

from xharm.exceptions import DimensionError
from xharm.sharpening import fit_hpf, sharpen, streamed
from xharm.sharpening.classic import bicubic, hpf
from xharm.sharpening.data import scene_to_cubes
from xharm.sharpening.mtf import degrade, inverse_halo, project_consistent


def _scene(scale: int, h: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Guide (T, 4, h, h) with parcels and texture; coarse bands (T, 3, h / scale, h / scale) with NaN."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:h, :h]
    field = np.sin(xx / 7.0) * np.cos(yy / 11.0) + (((xx // 23) + (yy // 17)) % 3) * 0.3
    g = np.stack(
        [[field * (0.05 + 0.02 * b) + 0.1 + 0.01 * rng.random((h, h)) for b in range(4)] for _ in range(2)]
    )
    truth = np.stack([0.6 * g[:, 3] + 0.1 * g[:, 2], 1.3 * g[:, 1] - 0.02, np.sqrt(g[:, 0])], axis=1)
    y = degrade(truth, scale) + 0.002 * rng.standard_normal((2, 3, h // scale, h // scale))
    y[0, 1, 3, 4] = np.nan
    y[1, :, 10:12, 5:9] = np.nan
    g[1, 2, h // 2, h // 3] = np.nan
    return g.astype(np.float32), y.astype(np.float32)


@pytest.mark.parametrize(("scale", "chunk"), [(2, 40), (2, 64), (6, 120)])
def test_chunked_hpf_and_bicubic_equal_the_whole_image(scale, chunk):
    g, y = _scene(scale, 360 if scale == 6 else 200)
    coarse, guide = streamed.align(da.from_array(y), da.from_array(g), scale, chunk)
    assert coarse.numblocks[2] > 2 and guide is not None and guide.chunks[2][0] == coarse.chunks[2][0] * scale
    out = streamed.apply(coarse, guide, streamed.fit(coarse, guide, scale), scale).compute()
    whole = hpf(y, g, scale)
    np.testing.assert_array_equal(np.isnan(out), np.isnan(whole))
    assert np.nanmax(np.abs(out - whole)) < 1e-6
    c2, _ = streamed.align(da.from_array(y), None, scale, chunk)
    out_b = streamed.apply(c2, None, streamed.fit(c2, None, scale), scale).compute()
    np.testing.assert_array_equal(np.isnan(out_b), np.isnan(bicubic(y, scale)))
    assert np.nanmax(np.abs(out_b - bicubic(y, scale))) < 1e-6


@pytest.mark.parametrize(("scale", "chunk"), [(2, 120), (6, 300)])
def test_the_chunked_projection_equals_the_whole_image(scale, chunk):
    g, y = _scene(scale, 600 if scale == 6 else 400)
    rng = np.random.default_rng(1)
    fine = (np.repeat(np.repeat(y, scale, -2), scale, -1) + 0.01 * rng.random((2, 3, *g.shape[-2:]))).astype(
        np.float32
    )
    fine[0, 0, 7, 9] = np.nan
    coarse, f = streamed.align(da.from_array(y), da.from_array(fine), scale, chunk, least=inverse_halo(scale))
    assert coarse.numblocks[2] > 1 and f is not None
    out = streamed.project(f, coarse, scale).compute()
    whole = project_consistent(fine, y, scale).astype(np.float32)
    np.testing.assert_array_equal(np.isnan(out), np.isnan(whole))
    assert np.nanmax(np.abs(out - whole)) < 1e-6


def test_a_small_last_block_joins_its_neighbour():
    assert streamed._sizes(200, 64, 18) == (64, 64, 72)
    assert streamed._sizes(10, 64, 18) == (10,)
    assert streamed._sizes(128, 64, 18) == (64, 64)


def test_with_a_computed_fit_each_output_chunk_reads_only_its_neighbours():
    """The streaming property: a chunk of the output needs its own input chunks and their
    neighbours' edges, never the whole date (the fit is the one whole-date step)."""
    g, y = _scene(2, 200)
    reads: list[tuple[int, ...]] = []
    lock = threading.Lock()

    def traced(a: np.ndarray, chunk: int) -> da.Array:
        def read(block: np.ndarray, block_info: dict | None = None) -> np.ndarray:
            with lock:
                reads.append(tuple(block_info[0]["chunk-location"]))
            return block

        return da.from_array(a, chunks=(1, a.shape[1], chunk, chunk)).map_blocks(read, dtype=a.dtype)

    coarse, guide = streamed.align(traced(y, 20), traced(g, 40), 2, 40)
    fits = streamed.fit(coarse, guide, 2).compute()
    reads.clear()
    out = streamed.apply(coarse, guide, fits, 2)
    with dask.config.set(scheduler="sync"):
        out.blocks[0, 0, 2, 2].compute()
    touched = {r[2:] for r in reads}
    assert touched and all(abs(i - 2) <= 1 and abs(j - 2) <= 1 for i, j in touched)
    assert len({r[0] for r in reads}) == 1  # one date


def test_fit_hpf_then_sharpen_equals_sharpen_and_is_checked():
    s = {10: _scene(2, 96)[0][:, :, :96, :96]}
    rng = np.random.default_rng(2)
    s[20] = (rng.random((6, 48, 48)) * 0.1 + 0.2).astype(np.float32)
    cubes = scene_to_cubes({10: s[10][0], 20: s[20]})
    fit = {r: f.compute() for r, f in fit_hpf(cubes).items()}
    assert set(fit) == {20} and fit[20].dims == ("time", "band", "term")
    plain = sharpen(cubes, method="hpf", chunks={"y": 40, "x": 40}).values
    np.testing.assert_array_equal(sharpen(cubes, method="hpf", fit=fit).values, plain)
    bic = {r: f.compute() for r, f in fit_hpf(cubes, guided=False).items()}
    np.testing.assert_array_equal(
        sharpen(cubes, method="bicubic", fit=bic).values, sharpen(cubes, method="bicubic").values
    )
    with pytest.raises(DimensionError, match="no regression weights"):
        sharpen(cubes, method="hpf", fit=bic)
    with pytest.raises(DimensionError, match="does not belong"):
        sharpen(cubes, method="hpf", fit={20: fit[20].isel(band=slice(0, 3))})
    with pytest.raises(DimensionError, match="does not belong"):
        sharpen(cubes, method="hpf", fit={20: fit[20].assign_coords(time=[np.datetime64("2020-01-01")])})
