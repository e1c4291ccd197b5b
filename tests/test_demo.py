"""The demo runs end to end on a tiny scene and writes what it says it writes."""

from __future__ import annotations

import numpy as np
import xarray as xr

from xharm.demo import run_demo


def test_demo_end_to_end(tmp_path):
    lines: list[str] = []
    res = run_demo(tmp_path / "demo", size_km=1.2, n_dates=2, seed=3, model=None, progress=False,
                   echo=lines.append)  # fmt: skip
    assert res.quicklook.is_file() and res.quicklook.stat().st_size > 10_000
    assert (tmp_path / "demo" / "scores.csv").is_file()
    assert list(res.overall.index) == ["resample", "hls"]
    assert np.isfinite(res.overall.to_numpy()).all()
    assert set(res.per_band.index.get_level_values("band")) == {f"B{i}" for i in range(2, 8)}
    hls = xr.open_zarr(res.zarr, group="hls")
    assert hls.reflectance.dims == ("time", "band", "y", "x")
    assert hls.reflectance.odc.crs.epsg == 32632
    assert hls.attrs["sensor"] == "landsat-8"
    assert any("Scores against the Landsat-8 truth" in line for line in lines)
