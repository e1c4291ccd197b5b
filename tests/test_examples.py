"""The example notebook runs top to bottom on a small scene (so it cannot rot) and shows densification."""

from __future__ import annotations

from pathlib import Path

import nbformat
from nbclient import NotebookClient

NOTEBOOK = Path(__file__).resolve().parents[1] / "examples" / "dense_time_series.ipynb"


def _text(nb: nbformat.NotebookNode) -> str:
    return "".join(
        o.get("text", "")
        for cell in nb.cells
        if cell.cell_type == "code"
        for o in cell.get("outputs", [])
        if o.get("output_type") == "stream"
    )


def test_dense_time_series_notebook_runs(tmp_path):
    nb = nbformat.read(NOTEBOOK, as_version=4)
    client = NotebookClient(
        nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    )
    client.execute()
    outputs = [o for cell in nb.cells if cell.cell_type == "code" for o in cell.get("outputs", [])]
    assert not [o for o in outputs if o.get("output_type") == "error"]
    images = [o for o in outputs if "image/png" in o.get("data", {})]
    assert images, "the NDVI plot was not drawn"
    assert (tmp_path / "dense_series_ndvi.png").stat().st_size > 20_000
    # issue 18 item 12: the two sensors on their own calendars, a dense series longer than either
    line = next(ln for ln in _text(nb).splitlines() if ln.startswith("dates:"))
    n_l8, n_s2, n_dense = (int(w.strip(",")) for w in line.split() if w.strip(",").isdigit())
    assert n_dense > max(n_l8, n_s2) and n_s2 > 2 * n_l8
    source = "".join(c.source for c in nb.cells)
    assert 'freq="5D"' in source and 'freq="16D"' in source
    assert "Landsat-8" in source and "Sentinel-2 raw" in source and "harmonized" in source
