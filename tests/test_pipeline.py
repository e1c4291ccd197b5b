"""jobs.harmonize_zarr: Zarr in, Zarr out, region by region; a killed run resumes to the same store."""

from __future__ import annotations

import math
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
from affine import Affine
from odc.geo.geobox import GeoBox

from xharm.core.cube import make_cube
from xharm.engine.apply import FunctionHandle, apply_model
from xharm.io.zarr import finished_regions, open_cube, write_cube
from xharm.jobs import harmonize_zarr
from xharm.spec import mgan_spec

TESTS = Path(__file__).resolve().parent
ROOT = TESTS.parent
SPEC = mgan_spec(16)
CHUNKS = {"time": 1, "y": 8, "x": 8}
REGION = {"time": 1, "y": 8, "x": 16}


def _write_source(path: Path, h: int = 24, w: int = 24, nt: int = 2) -> dict:
    rng = np.random.default_rng(0)
    times = [f"2021-06-{d:02d}" for d in range(1, nt + 1)]
    cubes = {}
    for name, res, bands in (("s2_10m", 10, ["B02", "B03", "B04", "B08"]), ("s2_20m", 20, ["B11", "B12"])):
        f = 30 / res
        ny, nx = math.ceil(h * f), math.ceil(w * f)
        gbox = GeoBox((ny, nx), Affine(res, 0.0, 600000.0, 0.0, -res, 5000040.0), "EPSG:32632")
        data = rng.random((nt, len(bands), ny, nx), dtype=np.float32)
        cubes[name] = make_cube(data, geobox=gbox, bands=bands, sensor="sentinel-2b", time=times)
        write_cube(
            cubes[name].chunk({"time": 1, "y": 20 * int(f), "x": 20 * int(f)}), path, group=name, mode="a"
        )
    return cubes


def _files(store: Path) -> dict[str, bytes]:
    return {str(p.relative_to(store)): p.read_bytes() for p in sorted(store.rglob("*")) if p.is_file()}


def test_harmonize_zarr_equals_in_memory(tmp_path):
    sys.path.insert(0, str(TESTS))
    import patch_models as pm

    cubes = _write_source(tmp_path / "src.zarr")
    handle = FunctionHandle("patch_models:make", (("kind", "conv"), ("seed", 3)))
    out = harmonize_zarr(
        tmp_path / "src.zarr", tmp_path / "dst.zarr", SPEC, handle, chunks=CHUNKS, region=REGION
    )
    ref = apply_model(cubes, SPEC, pm.conv(seed=3), chunks=CHUNKS)
    np.testing.assert_allclose(out.values, ref.values, atol=1e-6, rtol=0)
    assert out.odc.geobox == ref.odc.geobox and out.band.values.tolist() == list(SPEC.output.bands)
    assert out.attrs["xharm_model"] == SPEC.to_json()
    # a second call finds everything done and does not recompute
    calls = []
    harmonize_zarr(
        tmp_path / "src.zarr",
        tmp_path / "dst.zarr",
        SPEC,
        handle,
        chunks=CHUNKS,
        region=REGION,
        on_region=lambda i, n: calls.append(i),
    )
    assert calls == []


SCRIPT = textwrap.dedent(
    """
    import sys
    sys.path.insert(0, {tests!r})
    from xharm.engine.apply import FunctionHandle
    from xharm.jobs import harmonize_zarr
    from xharm.spec import mgan_spec
    handle = FunctionHandle("patch_models:make", (("kind", "slow"), ("inner", "conv"), ("delay", {delay})))
    harmonize_zarr({src!r}, {dst!r}, mgan_spec(16), handle, chunks={chunks!r}, region={region!r})
    """
)


def test_killed_run_resumes_to_identical_store(tmp_path):
    _write_source(tmp_path / "src.zarr")
    src, killed, clean = (str(tmp_path / n) for n in ("src.zarr", "killed.zarr", "clean.zarr"))
    args = {"tests": str(TESTS), "src": src, "chunks": CHUNKS, "region": REGION, "delay": 0.15}
    script = tmp_path / "job.py"
    script.write_text(SCRIPT.format(dst=killed, **args))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.Popen([sys.executable, str(script)], env=env)
    n_regions = 2 * 3 * 2  # time 2 x y 3 x x 2
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and len(finished_regions(killed)) < 1:
            assert proc.poll() is None, "the job ended before it could be killed"
            time.sleep(0.05)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait()
    done_at_kill = len(finished_regions(killed))
    assert 1 <= done_at_kill < n_regions, done_at_kill

    # rerun with the same arguments (in a subprocess, as a user would), and an uninterrupted run
    for dst in (killed, clean):
        script.write_text(SCRIPT.format(dst=dst, **args))
        subprocess.run([sys.executable, str(script)], env=env, check=True)
    assert len(finished_regions(killed)) == n_regions
    a, b = _files(Path(killed)), _files(Path(clean))
    assert sorted(a) == sorted(b)
    assert [k for k in a if a[k] != b[k]] == []
    np.testing.assert_array_equal(open_cube(killed).values, open_cube(clean).values)
