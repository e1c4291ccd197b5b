"""Zarr cubes: round trip, and resumable region-by-region writes."""

from __future__ import annotations

import os
import platform
import subprocess
import sys

import dask.array as da
import numpy as np
import pytest
from affine import Affine
from odc.geo.geobox import GeoBox

from xharm.core.cube import make_cube
from xharm.exceptions import ProductNotFoundError
from xharm.io.zarr import (
    RegionWriter,
    SourceCache,
    cached_source,
    find_corrupt_chunk,
    finished_regions,
    open_cube,
    write_cube,
)

GBOX = GeoBox((12, 10), Affine(30.0, 0.0, 600000.0, 0.0, -30.0, 5000010.0), "EPSG:32632")
TIMES = ["2021-06-01", "2021-06-11", "2021-06-21"]


def _cube(lazy: bool = True):
    data = np.arange(3 * 2 * 12 * 10, dtype=np.float32).reshape(3, 2, 12, 10) / 100
    data[1, 0, 3, 4] = np.nan
    if lazy:
        data = da.from_array(data, chunks=(1, 2, 4, 5))
    return make_cube(
        data, geobox=GBOX, bands=["B2", "B3"], sensor="landsat-8", time=TIMES, attrs={"note": "x"}
    )


def test_round_trip(tmp_path):
    cube = _cube()
    write_cube(cube, tmp_path / "s.zarr", group="l8")
    back = open_cube(tmp_path / "s.zarr", group="l8")
    assert back.chunks is not None  # lazy
    np.testing.assert_array_equal(back.values, cube.values)
    assert back.odc.geobox == GBOX
    assert back["band"].values.tolist() == ["B2", "B3"]
    assert back["common_name"].values.tolist() == ["blue", "green"]
    np.testing.assert_array_equal(back["time"].values, cube["time"].values)
    assert back.attrs["note"] == "x" and back.attrs["sensor"] == cube.attrs["sensor"]


def test_open_cube_keeps_the_variables_own_attrs(tmp_path):
    import xarray as xr

    write_cube(_cube(), tmp_path / "s.zarr", group="l8")
    extra = xr.Dataset({"reflectance": _cube(lazy=False).assign_attrs(units="1", note="variable")})
    # a store whose variable carries attrs of its own, next to the group's
    extra.attrs = {"note": "group", "sensor": "landsat-8"}
    extra.drop_vars("spatial_ref", errors="ignore").to_zarr(tmp_path / "v.zarr", mode="w", consolidated=False)
    back = open_cube(tmp_path / "v.zarr")
    assert back.attrs["units"] == "1" and back.attrs["note"] == "variable"  # variable attrs win
    assert back.attrs["sensor"] == "landsat-8"  # group attrs still there


def test_missing_store(tmp_path):
    with pytest.raises(ProductNotFoundError):
        open_cube(tmp_path / "nope.zarr")


def test_regions_cover_the_cube_once():
    w = RegionWriter(_cube(), "unused", fingerprint="f", region={"time": 1, "y": 8, "x": 10})
    # y chunks of 4 -> regions of 2 chunks: [0, 8), [8, 12); x: whole
    assert len(w.regions) == 3 * 2
    cover = np.zeros((3, 12, 10), int)
    for r in w.regions:
        cover[r["time"], r["y"], r["x"]] += 1
    assert (cover == 1).all()


def test_dims_not_named_are_one_region():
    # y of 12 px in chunks of 8 + 4: one region (a rounded ratio, round(12 / 8) = 1, made it two)
    w = RegionWriter(_cube().chunk({"y": 8}), "unused", fingerprint="f", region={"time": 1})
    assert [r["y"] for r in w.regions] == [slice(0, 12)] * 3


@pytest.mark.parametrize("in_flight", [1, 3])
def test_regions_in_flight_write_the_same_store(tmp_path, in_flight):
    cube = _cube()
    ref = RegionWriter(cube, tmp_path / "ref.zarr", fingerprint="f", region={"time": 1, "y": 4}, in_flight=1)
    list(ref.run())
    w = RegionWriter(
        cube, tmp_path / "o.zarr", fingerprint="f", region={"time": 1, "y": 4}, in_flight=in_flight
    )
    assert list(w.run()) == list(range(9))  # finished in order
    assert w.pending() == [] and w.verify() == []
    got, want = open_cube(tmp_path / "o.zarr").values, open_cube(tmp_path / "ref.zarr").values
    np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(got, cube.values)


def test_a_stopped_run_leaves_later_regions_unmarked(tmp_path):
    w = RegionWriter(_cube(), tmp_path / "o.zarr", fingerprint="f", region={"time": 1, "y": 4}, in_flight=2)
    for i in w.run():
        if i == 1:
            break  # the consumer stops (a progress callback raised): regions in flight stay unmarked
    assert finished_regions(tmp_path / "o.zarr").tolist() == [0, 1]


def test_overwrite_redoes_a_finished_job(tmp_path):
    path = tmp_path / "o.zarr"
    w = RegionWriter(_cube(), path, fingerprint="f", region={"time": 1})
    list(w.run())
    first = sorted(p for p in (path / "reflectance" / "c").rglob("*") if p.is_file())[0]
    first.unlink()
    list(w.run(overwrite=True))  # the same job again: written afresh, not taken as done
    assert first.is_file()
    np.testing.assert_array_equal(open_cube(path).values, _cube().values)


def test_source_cache_decodes_each_chunk_once_within_its_bounds(tmp_path):
    cube = _cube()
    write_cube(cube, tmp_path / "s.zarr")  # Zarr chunks (1, 2, 4, 5)
    cache = SourceCache(capacity=8, keep=1)  # two dates of 2 x 2 chunks: blocks share chunk rows
    src = cached_source(open_cube(tmp_path / "s.zarr"), tmp_path / "s.zarr", "reflectance", cache,
                        chunks={"time": 1, "y": 6, "x": 10})  # fmt: skip
    assert src.chunks == ((1, 1, 1), (2,), (6, 6), (10,))  # blocks follow the caller, not the store
    np.testing.assert_array_equal(src.compute(scheduler="sync").values, cube.values)
    assert len(cache.decodes) == 3 * 3 * 2 and set(cache.decodes.values()) == {1}
    assert len(cache._chunks) <= 8
    tight = SourceCache(capacity=8, max_bytes=1, keep=2)  # a byte bound below one chunk: keeps `keep`
    part = cached_source(open_cube(tmp_path / "s.zarr"), tmp_path / "s.zarr", "reflectance", tight)
    np.testing.assert_array_equal(part.values, cube.values)
    assert len(tight._chunks) == 2


def test_partial_write_then_resume(tmp_path):
    cube = _cube()
    path = tmp_path / "o.zarr"
    w = RegionWriter(cube, path, fingerprint="job1", region={"time": 1, "y": 4})
    w.init()
    for i in (0, 4):
        w.write(i)
    assert finished_regions(path).tolist() == [0, 4]
    w2 = RegionWriter(cube, path, fingerprint="job1", region={"time": 1, "y": 4})
    todo = [i for i in range(9) if i not in (0, 4)]
    assert w2.pending() == todo
    assert list(w2.run()) == todo
    assert w2.pending() == []
    np.testing.assert_array_equal(open_cube(path).values, cube.values)


def test_resume_deletes_the_temporary_files_of_a_killed_write(tmp_path):
    cube = _cube()
    path = tmp_path / "o.zarr"
    w = RegionWriter(cube, path, fingerprint="job1", region={"time": 1, "y": 4})
    w.init()
    w.write(0)
    # what a SIGKILL between zarr's temporary write and its rename leaves behind
    stale = [path / "reflectance" / "c" / "1" / "0.0a1b.partial", path / "xharm_done" / "c" / "1.ff.partial"]
    for f in stale:
        f.parent.mkdir(parents=True, exist_ok=True)
        f.write_bytes(b"half a chunk")
    list(RegionWriter(cube, path, fingerprint="job1", region={"time": 1, "y": 4}).run())
    assert [f for f in stale if f.exists()] == []
    assert list(path.rglob("*.partial")) == []
    np.testing.assert_array_equal(open_cube(path).values, cube.values)


def test_other_job_is_refused_unless_overwrite(tmp_path):
    path = tmp_path / "o.zarr"
    list(RegionWriter(_cube(), path, fingerprint="a").run())
    other = RegionWriter(_cube() * 2, path, fingerprint="b")
    with pytest.raises(FileExistsError, match="another job"):
        other.init()
    list(other.run(overwrite=True))
    np.testing.assert_array_equal(open_cube(path).values, _cube().values * 2)


# --------------------------------------------------------------------------- integrity (issue 19)


def _flip(path) -> None:
    b = bytearray(path.read_bytes())
    for i in range(20, min(60, len(b))):
        b[i] ^= 0x5A
    path.write_bytes(bytes(b))


def test_write_cube_checksums_detect_flipped_bytes(tmp_path):
    path = tmp_path / "c.zarr"
    write_cube(_cube(), str(path))
    assert '"checksum": true' in (path / "reflectance" / "zarr.json").read_text()
    assert find_corrupt_chunk(str(path), "reflectance") is None
    _flip(path / "reflectance" / "c" / "1" / "0" / "0" / "0")
    assert find_corrupt_chunk(str(path), "reflectance").endswith("reflectance/c/1/0/0/0")
    with pytest.raises(RuntimeError):
        open_cube(str(path)).values  # noqa: B018


def test_find_corrupt_chunk_of_a_missing_array_is_none(tmp_path):
    assert find_corrupt_chunk(str(tmp_path / "nope.zarr"), "reflectance") is None


def test_region_digests_catch_edits_and_deletions(tmp_path):
    cube = _cube()
    w = RegionWriter(cube, str(tmp_path / "r.zarr"), fingerprint="f", region={"time": 1})
    list(w.run())
    assert w.verify() == []
    chunks = sorted((tmp_path / "r.zarr" / "reflectance" / "c").rglob("*"))
    files = [p for p in chunks if p.is_file()]
    _flip(files[0])
    files[-1].unlink()
    bad = w.verify()
    assert bad == sorted({0, len(w.regions) - 1}) and w.pending() == bad
    list(w.run())
    assert w.verify() == [] and np.array_equal(
        open_cube(str(tmp_path / "r.zarr")).values, cube.values, equal_nan=True
    )


_ARENA_PROBE = """
import ctypes, os, sys, tempfile, threading
from xharm.io.zarr import limit_malloc_arenas
if sys.argv[1] == "limit":
    limit_malloc_arenas()
libc = ctypes.CDLL("libc.so.6")
libc.fdopen.restype = ctypes.c_void_p
libc.fdopen.argtypes = [ctypes.c_int, ctypes.c_char_p]
libc.malloc_info.argtypes = [ctypes.c_int, ctypes.c_void_p]
libc.fflush.argtypes = [ctypes.c_void_p]
barrier, held = threading.Barrier(8), []
def work():
    barrier.wait()
    held.extend(bytearray(4096) for _ in range(200))  # malloc'd by this thread, side by side
threads = [threading.Thread(target=work) for _ in range(8)]
for t in threads:
    t.start()
for t in threads:
    t.join()
with tempfile.TemporaryFile() as f:
    fp = libc.fdopen(os.dup(f.fileno()), b"w")
    libc.malloc_info(0, fp)
    libc.fflush(fp)
    f.seek(0)
    print(f.read().decode().count("<heap nr="))
"""


_GLIBC = sys.platform.startswith("linux") and platform.libc_ver()[0] == "glibc"


@pytest.mark.skipif(not _GLIBC, reason="glibc only")
def test_jobs_share_two_malloc_arenas():
    """Issue 20 (memory): 8 threads allocating at once get their own glibc arenas (fragmented
    free space, peak RSS +26 % on a 60 km job); after ``limit_malloc_arenas`` they share 2."""
    env = {k: v for k, v in os.environ.items() if k != "MALLOC_ARENA_MAX"}

    def heaps(mode: str) -> int:
        cmd = [sys.executable, "-c", _ARENA_PROBE, mode]
        run = subprocess.run(cmd, capture_output=True, text=True, env=env)
        assert run.returncode == 0, run.stderr
        return int(run.stdout.strip().splitlines()[-1])

    assert heaps("limit") <= 2 < heaps("none")
