"""A synthetic landscape on a 10 m grid: land cover, crop parcels, texture, labels.

The layout mimics a central European agricultural landscape: a mosaic of rectangular
parcels (recursive binary splits, 150-600 m sides) with farm tracks between blocks,
natural-shaped forests and lakes (thresholded fractal noise), a town made of building
blocks and streets, and within-field texture (spatially correlated LAI and soil
brightness variations). Class areas are set by quantiles, so every class appears in
scenes from about 2 km up.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["CLASSES", "CLASS_CODES", "VEGETATION", "Landscape", "fractal_noise", "make_landscape"]

#: Label codes -> class names (``labels`` raster; 0 is never used).
CLASSES: dict[int, str] = {
    1: "wheat",
    2: "maize",
    3: "rapeseed",
    4: "soybean",
    5: "sugarbeet",
    6: "grassland",
    7: "deciduous",
    8: "conifer",
    9: "water",
    10: "urban",
    11: "bare",
}
CLASS_CODES: dict[str, int] = {v: k for k, v in CLASSES.items()}
#: Classes rendered with PROSAIL (all have a phenology calendar).
VEGETATION = ("wheat", "maize", "rapeseed", "soybean", "sugarbeet", "grassland", "deciduous", "conifer")
_CROP_SHARES = {
    "wheat": 0.24,
    "maize": 0.18,
    "rapeseed": 0.12,
    "soybean": 0.1,
    "sugarbeet": 0.1,
    "grassland": 0.18,
    "bare": 0.08,
}

#: Urban surface materials (Earth Library classes): streets first, then roofs/paving.
URBAN_STREETS = ("asphalt", "road")
URBAN_BLOCKS = ("comp_shingle", "tile", "concrete_tile", "metal", "parking_lot", "sidewalk")


@dataclass(frozen=True, eq=False)
class Landscape:
    """Static scene content on the 10 m grid (all arrays ``(y, x)``).

    Attributes
    ----------
    labels
        uint8 class codes (:data:`CLASSES`).
    field_id
        int32 parcel index into the per-field arrays.
    field_shift, field_scale
        Per-field calendar shift (days) and peak-LAI scale.
    field_soil
        Per-field soil brightness (bare fields and crop backgrounds).
    texture
        float32 multiplicative within-field variation (mean 1).
    urban_material
        uint8 index into ``URBAN_STREETS + URBAN_BLOCKS`` (urban pixels).
    urban_sample
        int32 choice of one Earth Library spectrum of that material per building lot.
    urban_green
        float32 vegetation fraction of urban pixels (gardens, street trees).
    water_mix
        float32 0..1 mixing weight between a clear and a turbid water type.
    """

    labels: np.ndarray
    field_id: np.ndarray
    field_shift: np.ndarray
    field_scale: np.ndarray
    field_soil: np.ndarray
    texture: np.ndarray
    urban_material: np.ndarray
    urban_sample: np.ndarray
    urban_green: np.ndarray
    water_mix: np.ndarray

    @property
    def shape(self) -> tuple[int, int]:
        return self.labels.shape  # type: ignore[return-value]


def fractal_noise(
    shape: tuple[int, int], rng: np.random.Generator, beta: float = 3.0, coarsen: int = 1
) -> np.ndarray:
    """Zero-mean, unit-variance power-law (``1/f^beta``) noise, computed at ``shape // coarsen``.

    Examples
    --------
    >>> n = fractal_noise((64, 64), np.random.default_rng(0))
    >>> n.shape, round(float(n.std()), 3)
    ((64, 64), 1.0)
    """
    h, w = max(2, -(-shape[0] // coarsen)), max(2, -(-shape[1] // coarsen))
    fy = np.fft.fftfreq(h)[:, None]
    fx = np.fft.rfftfreq(w)[None, :]
    f = np.sqrt(fy**2 + fx**2)
    f[0, 0] = 1.0
    amp = f ** (-beta / 2.0)
    amp[0, 0] = 0.0
    spec = (rng.standard_normal((h, w // 2 + 1)) + 1j * rng.standard_normal((h, w // 2 + 1))) * amp
    n = np.fft.irfft2(spec, s=(h, w))
    if coarsen > 1:
        n = _upsample(n, coarsen, shape)
    n = (n - n.mean()) / (n.std() + 1e-12)
    return n.astype("float32")


def _interp_matrix(n_out: int, n_in: int, factor: int) -> np.ndarray:
    """Linear interpolation weights ``(n_out, n_in)`` from a coarse to a ``factor`` x finer grid."""
    pos = np.clip((np.arange(n_out) + 0.5) / factor - 0.5, 0, n_in - 1)
    i0 = np.minimum(pos.astype("int64"), n_in - 2)
    w = (pos - i0).astype("float32")
    m = np.zeros((n_out, n_in), dtype="float32")
    m[np.arange(n_out), i0] = 1 - w
    m[np.arange(n_out), i0 + 1] += w
    return m


def _upsample(n: np.ndarray, factor: int, shape: tuple[int, int]) -> np.ndarray:
    """Bilinear upsampling as two small matrix products (much faster than ``ndimage.zoom``)."""
    ry = _interp_matrix(shape[0], n.shape[0], factor)
    rx = _interp_matrix(shape[1], n.shape[1], factor)
    return ry @ n.astype("float32") @ rx.T


def _split(rng: np.random.Generator, box: tuple[int, int, int, int], lo: int, hi: int, out: list) -> None:
    """Recursive binary split of ``(y0, y1, x0, x1)`` into rectangles with sides in ``[lo, hi]``."""
    y0, y1, x0, x1 = box
    h, w = y1 - y0, x1 - x0
    can_h, can_w = h >= 2 * lo, w >= 2 * lo
    if not (can_h or can_w) or (max(h, w) <= hi and rng.random() < 0.3):
        out.append(box)
        return
    horizontal = can_h and (not can_w or h >= w)
    if horizontal:
        cut = int(rng.integers(y0 + lo, y1 - lo + 1))
        _split(rng, (y0, cut, x0, x1), lo, hi, out)
        _split(rng, (cut, y1, x0, x1), lo, hi, out)
    else:
        cut = int(rng.integers(x0 + lo, x1 - lo + 1))
        _split(rng, (y0, y1, x0, cut), lo, hi, out)
        _split(rng, (y0, y1, cut, x1), lo, hi, out)


def make_landscape(shape: tuple[int, int], seed: int = 0, resolution: float = 10.0) -> Landscape:
    """Generate a landscape of ``shape`` pixels at ``resolution`` metres.

    Parameters
    ----------
    shape
        ``(ny, nx)`` of the 10 m grid.
    seed
        Seed of the ``numpy`` generator; the same seed gives the same landscape.

    Examples
    --------
    >>> land = make_landscape((300, 300), seed=1)
    >>> sorted(set(np.unique(land.labels).tolist())) == sorted(CLASSES)
    True
    """
    rng = np.random.default_rng([seed, 101])
    ny, nx = shape
    px = lambda m: max(2, round(m / resolution))  # noqa: E731
    coarse = max(1, int(80 / resolution))

    # parcels: blocks of ~1-2 km split into fields of 150-600 m, 10 m tracks between blocks
    blocks: list[tuple[int, int, int, int]] = []
    _split(rng, (0, ny, 0, nx), px(600), px(1800), blocks)
    fields: list[tuple[int, int, int, int]] = []
    for b in blocks:
        _split(rng, b, px(150), px(600), fields)
    field_id = np.zeros(shape, dtype="int32")
    for i, (y0, y1, x0, x1) in enumerate(fields):
        field_id[y0:y1, x0:x1] = i
    track = np.zeros(shape, dtype=bool)
    for y0, y1, x0, x1 in blocks:
        track[y0, x0:x1] = track[y1 - 1, x0:x1] = True
        track[y0:y1, x0] = track[y0:y1, x1 - 1] = True
    track[0, :] = track[-1, :] = track[:, 0] = track[:, -1] = False
    nf = len(fields)

    # per-field class: urban where the town field is highest, otherwise crops by share
    town = fractal_noise(shape, rng, beta=4.0, coarsen=coarse)
    centres = np.array([((a + b) // 2, (c + d) // 2) for a, b, c, d in fields])
    town_f = town[centres[:, 0], centres[:, 1]]
    names = list(_CROP_SHARES)
    probs = np.array(list(_CROP_SHARES.values()))
    field_cls = rng.choice(names, size=nf, p=probs / probs.sum())
    field_cls[town_f >= np.quantile(town_f, 0.92)] = "urban"
    codes = np.array([CLASS_CODES[c] for c in field_cls], dtype="uint8")
    labels = codes[field_id]
    labels[track & (labels != CLASS_CODES["urban"])] = CLASS_CODES["grassland"]

    # forests and lakes: natural shapes over the parcels (quantile thresholds)
    forest = fractal_noise(shape, rng, beta=3.5, coarsen=coarse) + 0.15 * fractal_noise(shape, rng, beta=2.0)
    kind = fractal_noise(shape, rng, beta=4.0, coarsen=coarse)
    is_forest = (forest > np.quantile(forest, 0.80)) & (labels != CLASS_CODES["urban"])
    labels[is_forest & (kind >= 0)] = CLASS_CODES["deciduous"]
    labels[is_forest & (kind < 0)] = CLASS_CODES["conifer"]
    water = fractal_noise(shape, rng, beta=3.5, coarsen=coarse) + 0.1 * fractal_noise(shape, rng, beta=2.0)
    labels[water > np.quantile(water, 0.96)] = CLASS_CODES["water"]

    # texture: smooth within-field variation (~30-100 m) plus pixel noise
    texture = 1.0 + 0.12 * fractal_noise(shape, rng, beta=2.5, coarsen=2) + 0.04 * rng.standard_normal(shape)
    texture = np.clip(texture, 0.5, 1.5).astype("float32")

    # town: building blocks with streets; material and spectrum sample per block
    urban = labels == CLASS_CODES["urban"]
    lots: list[tuple[int, int, int, int]] = []
    for y0, y1, x0, x1 in (f for f, c in zip(fields, field_cls, strict=True) if c == "urban"):
        _split(rng, (y0, y1, x0, x1), px(30), px(90), lots)
    lot_id = np.zeros(shape, dtype="int32")
    street = np.zeros(shape, dtype=bool)
    for i, (y0, y1, x0, x1) in enumerate(lots):
        lot_id[y0:y1, x0:x1] = i + 1
        street[y0, x0:x1] = street[y0:y1, x0] = True
    n_lots = len(lots) + 1
    lot_material = rng.integers(len(URBAN_STREETS), len(URBAN_STREETS) + len(URBAN_BLOCKS), size=n_lots)
    material = lot_material[lot_id].astype("uint8")
    material[street] = rng.integers(0, len(URBAN_STREETS))
    material[~urban] = 0
    sample = rng.integers(0, 1 << 15, size=n_lots)[lot_id].astype("int32")
    green = np.clip(0.25 + 0.25 * fractal_noise(shape, rng, beta=2.0), 0.0, 0.9).astype("float32")
    green[street] *= 0.2
    green[~urban] = 0.0

    water_mix = (0.5 + 0.2 * fractal_noise(shape, rng, beta=3.0, coarsen=coarse)).clip(0, 1).astype("float32")

    return Landscape(
        labels=labels,
        field_id=field_id,
        field_shift=rng.normal(0.0, 5.0, nf).astype("float32"),
        field_scale=rng.uniform(0.8, 1.1, nf).astype("float32"),
        field_soil=rng.uniform(0.7, 1.3, nf).astype("float32"),
        texture=texture,
        urban_material=material,
        urban_sample=sample,
        urban_green=green,
        water_mix=water_mix,
    )
