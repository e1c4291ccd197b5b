"""A synthetic landscape on a 10 m grid: land cover, crop parcels, texture, labels.

Parcels are continuous polygons (:mod:`.parcels`): Voronoi blocks with straight edges at
any angle, cut into fields in each block's own orientation, so edges fall anywhere
inside a pixel. Each 10 m pixel is an area-weighted mix of up to three components:

1. its own field (or forest / water / town) - ``labels``, ``field_id``;
2. the neighbour across the nearest edge (another field, or the forest or lake beyond a
   natural edge) - ``mix_label``, ``mix_field``, ``mix_frac``;
3. a sub-pixel feature - roads and hedgerows / tree rows on block edges, hedges on some
   field edges, single trees, farmstead roofs - ``feat_kind``, ``feat_frac``.

Within-field heterogeneity at 10-30 m (canopy density, soil moisture / brightness
patches, tramlines every 20 m in arable crops) multiplies the LAI and the soil brightness.
Forests and lakes are thresholded fractal noise with a sub-pixel soft edge; a town is a
set of urban fields cut into building lots and streets. Optional terrain (fractal relief)
gives per-pixel surface normals for the illumination in the renderer.

:data:`ARCHETYPES` sets all of it per landscape type (central-European farmland, large-field
plains, smallholder mosaic, forest / hills with terrain, peri-urban). Class areas are set
by quantiles, so every class appears in central-European scenes from about 2 km up.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np

from ..exceptions import XharmError, describe
from .parcels import Parcels, hash01, line_cover, make_parcels

__all__ = [
    "ARCHETYPES",
    "CLASSES",
    "CLASS_CODES",
    "FEATURES",
    "VEGETATION",
    "Archetype",
    "ArchetypeError",
    "Landscape",
    "archetype_for",
    "fractal_noise",
    "make_landscape",
]

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
#: Sub-pixel feature kinds (``feat_kind``): 0 none.
FEATURES: dict[int, str] = {1: "road", 2: "woody", 3: "roof"}


class ArchetypeError(XharmError, ValueError):
    """An unknown landscape archetype, or a landscape that lacks what was asked of it."""


@dataclass(frozen=True)
class Archetype:
    """Parameters of one landscape type (lengths in metres, fractions of area or edges).

    Attributes
    ----------
    block_m, strip_m, segment_m, theta_spread_deg
        Block (Voronoi) spacing, field width and length ranges, spread of field orientation.
    crops
        ``(class, share)`` of the fields (crops, grassland, bare).
    forest, water, urban
        Area share of forest and lakes; share of fields that form the town.
    road_p, hedge_p, field_hedge_p
        Share of block edges with a road (6 m), with a hedgerow / tree row (5 m), and of
        strip edges with a hedge (4 m).
    tree_cell_m, tree_p
        Single trees (crown radius 3-7 m): one chance ``tree_p`` per cell of this size.
    farm_cell_m, farm_p
        Farmsteads (two or three roofs, 12-30 m): one chance per cell.
    texture
        Amplitude of within-field LAI / brightness variation (log scale).
    soil
        Range of the per-field soil brightness factor (1 = the PROSAIL soil).
    relief_m
        Standard deviation of the terrain height (0: flat).
    """

    name: str
    block_m: float
    strip_m: tuple[float, float]
    segment_m: tuple[float, float]
    theta_spread_deg: float
    crops: tuple[tuple[str, float], ...]
    forest: float
    water: float
    urban: float
    road_p: float
    hedge_p: float
    field_hedge_p: float
    tree_cell_m: float
    tree_p: float
    farm_cell_m: float
    farm_p: float
    texture: float = 0.18
    relief_m: float = 0.0
    soil: tuple[float, float] = (0.7, 1.3)


_EU_CROPS = (("wheat", 0.24), ("maize", 0.18), ("rapeseed", 0.12), ("soybean", 0.1),
             ("sugarbeet", 0.1), ("grassland", 0.2), ("bare", 0.04))  # fmt: skip
#: The landscape types (``archetype=``); ``"central_europe"`` is the default.
ARCHETYPES: dict[str, Archetype] = {
    "central_europe": Archetype(
        "central_europe", 900.0, (60.0, 220.0), (150.0, 600.0), 180.0, _EU_CROPS, forest=0.15,
        water=0.03, urban=0.06, road_p=0.5, hedge_p=0.3, field_hedge_p=0.08, tree_cell_m=120.0,
        tree_p=0.2, farm_cell_m=900.0, farm_p=0.4, soil=(0.45, 0.85),
    ),
    "plains": Archetype(
        "plains", 2400.0, (250.0, 800.0), (400.0, 1600.0), 8.0,
        (("wheat", 0.3), ("maize", 0.25), ("soybean", 0.2), ("sugarbeet", 0.05), ("rapeseed", 0.1),
         ("grassland", 0.05), ("bare", 0.05)),
        forest=0.03, water=0.01, urban=0.02, road_p=0.7, hedge_p=0.05, field_hedge_p=0.0,
        tree_cell_m=300.0, tree_p=0.05, farm_cell_m=2400.0, farm_p=0.3, texture=0.14,
    ),
    "smallholder": Archetype(
        "smallholder", 350.0, (20.0, 60.0), (40.0, 150.0), 180.0,
        (("maize", 0.3), ("soybean", 0.15), ("wheat", 0.1), ("sugarbeet", 0.1), ("grassland", 0.2),
         ("bare", 0.15)),
        forest=0.08, water=0.02, urban=0.03, road_p=0.3, hedge_p=0.5, field_hedge_p=0.3,
        tree_cell_m=50.0, tree_p=0.35, farm_cell_m=300.0, farm_p=0.5, texture=0.22,
    ),
    "forest_hills": Archetype(
        "forest_hills", 1000.0, (60.0, 200.0), (100.0, 400.0), 180.0,
        (("grassland", 0.6), ("wheat", 0.12), ("maize", 0.12), ("rapeseed", 0.04), ("bare", 0.04),
         ("soybean", 0.04), ("sugarbeet", 0.04)),
        forest=0.7, water=0.02, urban=0.02, road_p=0.4, hedge_p=0.3, field_hedge_p=0.1,
        tree_cell_m=100.0, tree_p=0.2, farm_cell_m=1000.0, farm_p=0.3, relief_m=80.0,
        soil=(0.45, 0.85),
    ),
    "peri_urban": Archetype(
        "peri_urban", 500.0, (40.0, 150.0), (80.0, 300.0), 180.0,
        (("grassland", 0.35), ("wheat", 0.2), ("maize", 0.15), ("rapeseed", 0.05), ("soybean", 0.05),
         ("sugarbeet", 0.05), ("bare", 0.15)),
        forest=0.08, water=0.03, urban=0.35, road_p=0.8, hedge_p=0.2, field_hedge_p=0.05,
        tree_cell_m=60.0, tree_p=0.3, farm_cell_m=500.0, farm_p=0.0,
    ),
}  # fmt: skip


def archetype_for(name: str | None, seed: int) -> Archetype:
    """The archetype named ``name``; ``"auto"`` picks one from the seed; ``None`` the default.

    Examples
    --------
    >>> archetype_for(None, 0).name, archetype_for("auto", 3).name in ARCHETYPES
    ('central_europe', True)
    """
    if name is None:
        return ARCHETYPES["central_europe"]
    if name == "auto":
        keys = sorted(ARCHETYPES)
        return ARCHETYPES[keys[int(np.random.default_rng([seed, 97]).integers(len(keys)))]]
    if name not in ARCHETYPES:
        raise ArchetypeError(
            describe(
                "unknown landscape archetype",
                expected=[*sorted(ARCHETYPES), "auto"],
                found=name,
                fix="pass one of the expected names",
            )
        )
    return ARCHETYPES[name]


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
    mix_label, mix_field, mix_frac
        The second component of each pixel (class code, 0 = none; parcel; area fraction
        0..0.5): the neighbour across the nearest parcel or natural edge.
    feat_kind, feat_frac
        Sub-pixel feature (:data:`FEATURES`, 0 = none) and its area fraction.
    normal
        Unit surface normal ``(east, north, up)`` per pixel, or ``None`` on flat terrain.
    archetype
        Name of the :class:`Archetype`.
    parcels
        The continuous parcel geometry (field keys at any point).
    field_keys, field_codes
        Sorted parcel keys (:meth:`Parcels.key_at`) of the fields and their class codes
        (indexed like ``field_id``), before forests and lakes are laid over them.
    forest_level, forest_kind, water_level
        float32 ``(y, x)`` fields at the pixel centres whose zero contours draw the forests
        (``forest_level >= 0``, outside towns; deciduous where ``forest_kind >= 0``, else
        conifer) and the lakes (``water_level >= 0``, over everything).

    :meth:`labels_at` evaluates all of it at any point: the class map in continuous
    coordinates, of which ``labels`` is the sample at the 10 m pixel centres.
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
    mix_label: np.ndarray | None = None
    mix_field: np.ndarray | None = None
    mix_frac: np.ndarray | None = None
    feat_kind: np.ndarray | None = None
    feat_frac: np.ndarray | None = None
    normal: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None
    archetype: str = "central_europe"
    parcels: Parcels | None = field(default=None, repr=False)
    field_keys: np.ndarray | None = field(default=None, repr=False)
    field_codes: np.ndarray | None = field(default=None, repr=False)
    forest_level: np.ndarray | None = field(default=None, repr=False)
    forest_kind: np.ndarray | None = field(default=None, repr=False)
    water_level: np.ndarray | None = field(default=None, repr=False)
    resolution: float = 10.0

    @property
    def shape(self) -> tuple[int, int]:
        return self.labels.shape  # type: ignore[return-value]

    def labels_at(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Class code and parcel of points ``(x, y)`` (metres from the upper-left corner, ``y`` down).

        The field under a point comes from the continuous parcel geometry; forests and lakes
        from the bilinear interpolation of their level fields (exact at the pixel centres,
        where the result equals ``labels``). Points outside the scene take the nearest edge
        value of the level fields.

        Returns
        -------
        tuple of numpy.ndarray
            ``uint8`` class codes (:data:`CLASSES`) and ``int64`` parcel ids: the field key
            (>= 0) for fields and towns, ``-code`` for forest and water (one parcel per class).

        Examples
        --------
        >>> land = make_landscape((60, 60), seed=1)
        >>> yy, xx = (np.mgrid[0:60, 0:60] + 0.5) * 10.0
        >>> bool((land.labels_at(xx, yy)[0] == land.labels).all())
        True
        """
        if self.parcels is None or self.field_keys is None or self.field_codes is None:
            raise ArchetypeError(
                describe(
                    "this Landscape has no continuous class map",
                    expected="a Landscape from make_landscape (parcels, field keys, level fields)",
                    found="parcels or field keys missing",
                    fix="build it with make_landscape (or simulate.landscape_of for a simulated series)",
                )
            )
        x, y = np.asarray(x, "float64"), np.asarray(y, "float64")
        key = self.parcels.key_at(x, y)
        i = np.clip(np.searchsorted(self.field_keys, key), 0, self.field_keys.size - 1)
        known = self.field_keys[i] == key
        rows = np.clip((y / self.resolution).astype("int64"), 0, self.shape[0] - 1)
        cols = np.clip((x / self.resolution).astype("int64"), 0, self.shape[1] - 1)
        # a sliver that no pixel centre saw: the class of the pixel it lies in
        code = np.where(known, self.field_codes[i], self.labels[rows, cols]).astype("uint8")
        parcel = key.astype("int64")
        for level, natural in ((self.forest_level, "forest"), (self.water_level, "water")):
            if level is None:
                continue
            inside = self._interp(level, x, y) >= 0
            if natural == "forest":
                inside &= code != CLASS_CODES["urban"]
                kind = self._interp(self.forest_kind, x, y) if self.forest_kind is not None else 0.0
                new = np.where(kind >= 0, CLASS_CODES["deciduous"], CLASS_CODES["conifer"])
            else:
                new = np.full(code.shape, CLASS_CODES["water"])
            code = np.where(inside, new, code).astype("uint8")
            parcel = np.where(inside, -new.astype("int64"), parcel)
        return code, parcel

    def _interp(self, a: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        from scipy.ndimage import map_coordinates

        rc = np.stack([y.ravel() / self.resolution - 0.5, x.ravel() / self.resolution - 0.5])
        return map_coordinates(a, rc, order=1, mode="nearest", prefilter=False).reshape(x.shape)


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
        n = upsample(n, coarsen, shape)
    n = (n - n.mean()) / (n.std() + 1e-12)
    return n.astype("float32")


def _interp_index(n_out: int, n_in: int, factor: int) -> tuple[np.ndarray, np.ndarray]:
    """Left neighbour and weight of linear interpolation from a coarse to a ``factor`` x finer grid."""
    pos = np.clip((np.arange(n_out) + 0.5) / factor - 0.5, 0, n_in - 1)
    i0 = np.clip(pos.astype("int64"), 0, max(n_in - 2, 0))
    w = (pos - i0).astype("float32")
    return i0, w


def upsample(n: np.ndarray, factor: int, shape: tuple[int, int]) -> np.ndarray:
    """Bilinear upsampling by gathering neighbours along each axis (linear in the output size)."""
    a = n.astype("float32")
    i0, w = _interp_index(shape[0], a.shape[0], factor)
    i1 = np.minimum(i0 + 1, a.shape[0] - 1)
    rows = a[i0] * (1 - w)[:, None] + a[i1] * w[:, None]
    j0, v = _interp_index(shape[1], a.shape[1], factor)
    j1 = np.minimum(j0 + 1, a.shape[1] - 1)
    return rows[:, j0] * (1 - v)[None, :] + rows[:, j1] * v[None, :]


def _soft_mask(n: np.ndarray, share: float) -> np.ndarray:
    """Area fraction (0..1) of each pixel above the ``1 - share`` quantile of a smooth field.

    The threshold contour is straight within a pixel, so the covered fraction is the linear
    ramp ``1/2 + (n - q) / (|dn/dx| + |dn/dy|)`` (per-pixel differences).
    """
    if share <= 0:
        return np.zeros(n.shape, "float32")
    q = _threshold(n, share)
    gy, gx = np.gradient(n)
    return np.clip(0.5 + (n - q) / (np.abs(gx) + np.abs(gy) + 1e-6), 0.0, 1.0).astype("float32")


def _threshold(n: np.ndarray, share: float) -> float:
    """The level of a smooth field above which ``share`` of the scene lies (its zero contour is the edge)."""
    return float(np.quantile(n[::3, ::3], 1.0 - share)) if share > 0 else float(n.max()) + 1.0


def _periodic_cover(t: np.ndarray, half: np.ndarray, period: float, width: float) -> np.ndarray:
    """Fraction of ``[t - half, t + half]`` covered by stripes ``width`` wide every ``period``."""

    def g(z: np.ndarray) -> np.ndarray:
        return np.floor(z / period) * width + np.minimum(np.mod(z, period), width)

    return ((g(t + half) - g(t - half)) / (2 * half)).astype("float32")


def _point_cover(
    x: np.ndarray, y: np.ndarray, cell: float, p: float, radius: tuple[float, float], salt: int, res: float
) -> np.ndarray:
    """Cover (0..1) of pixels by discs: at most one per ``cell`` x ``cell`` lattice cell (4x4 subsamples)."""
    cx, cy = np.floor(x / cell), np.floor(y / cell)
    have = hash01(salt, cx, cy) < p
    r = radius[0] + (radius[1] - radius[0]) * hash01(salt, cx, cy, 1)
    margin = r / cell + 0.02
    tx = (cx + margin + (1 - 2 * margin) * hash01(salt, cx, cy, 2)) * cell
    ty = (cy + margin + (1 - 2 * margin) * hash01(salt, cx, cy, 3)) * cell
    near = have & (np.hypot(x - tx, y - ty) < r + res)
    out = np.zeros(x.shape, "float32")
    if near.any():
        o = (np.arange(4) + 0.5) / 4 - 0.5
        sx = x[near][:, None] + res * np.repeat(o, 4)[None, :]
        sy = y[near][:, None] + res * np.tile(o, 4)[None, :]
        inside = np.hypot(sx - tx[near][:, None], sy - ty[near][:, None]) < r[near][:, None]
        out[near] = inside.mean(axis=1)
    return out


def _farm_cover(x: np.ndarray, y: np.ndarray, arc: Archetype, salt: int, res: float) -> np.ndarray:
    """Roof cover of farmsteads: two or three rectangles 12-30 m near a random point per cell."""
    out = np.zeros(x.shape, "float32")
    if arc.farm_p <= 0:
        return out
    cell = arc.farm_cell_m
    cx, cy = np.floor(x / cell), np.floor(y / cell)
    have = hash01(salt, cx, cy) < arc.farm_p
    fx = (cx + 0.2 + 0.6 * hash01(salt, cx, cy, 1)) * cell
    fy = (cy + 0.2 + 0.6 * hash01(salt, cx, cy, 2)) * cell
    th = np.pi * hash01(salt, cx, cy, 3)
    near = have & (np.hypot(x - fx, y - fy) < 60.0 + res)
    if not near.any():
        return out
    o = (np.arange(4) + 0.5) / 4 - 0.5
    sx = x[near][:, None] + res * np.repeat(o, 4)[None, :] - fx[near][:, None]
    sy = y[near][:, None] + res * np.tile(o, 4)[None, :] - fy[near][:, None]
    c, s = np.cos(th[near])[:, None], np.sin(th[near])[:, None]
    u, v = sx * c + sy * s, -sx * s + sy * c
    roof = np.zeros(u.shape, bool)
    for k, (du, dv) in enumerate(((0.0, 0.0), (28.0, 4.0), (-4.0, 26.0))):
        hu = 6.0 + 9.0 * hash01(salt, cx[near], cy[near], 10 + k)[:, None]
        hv = 5.0 + 5.0 * hash01(salt, cx[near], cy[near], 20 + k)[:, None]
        roof |= (np.abs(u - du) < hu) & (np.abs(v - dv) < hv)
    out[near] = roof.mean(axis=1)
    return out


def _blocks(parcels: Parcels, x: np.ndarray, y: np.ndarray, res: float, k: int = 4) -> tuple[np.ndarray, ...]:
    """:meth:`Parcels.blocks_at` on a pixel grid, exact only within ``2 k`` pixels of a block edge.

    Evaluated first at the centres of ``k x k`` pixel cells: where the cell centre is farther
    from its block edge than the cell's half-diagonal plus ``k`` pixels, every pixel of the cell
    is in that block and its edge distance is only bounded from below (which is all that
    the edge mixing, 10 m at most, and the features, 6 m at most, need).
    """
    ny, nx = x.shape
    cy, cx = np.arange(ny) // k, np.arange(nx) // k
    gx = x[::k, ::k] + (k - 1) * res / 2
    gy = y[::k, ::k] + (k - 1) * res / 2
    b1c, b2c, dc, nxc, nyc = parcels.blocks_at(gx, gy)
    margin = k * res * (np.sqrt(0.5) + 1.0)
    far = (dc > margin)[cy[:, None], cx[None, :]]
    out = [a[cy[:, None], cx[None, :]] for a in (b1c, b2c, dc - margin * 0.5, nxc, nyc)]
    if (~far).any():
        exact = parcels.blocks_at(x[~far], y[~far])
        for o, v in zip(out, exact, strict=True):
            o[~far] = v
    return tuple(out)


def _edges(
    parcels: Parcels, shape: tuple[int, int], res: float, arc: Archetype, salt: int
) -> dict[str, np.ndarray]:
    """Per-pixel parcel keys, edge mixing and feature cover, computed in row strips."""
    ny, nx = shape
    out: dict[str, np.ndarray] = {k: np.empty(shape, "int64") for k in ("key", "key2")}
    out |= {k: np.empty(shape, "float32") for k in ("f2", "tram", "lot_u", "lot_v", "feat_frac")}
    out |= {k: np.empty(shape, "uint8") for k in ("kind2", "feat_kind")}
    xs = (np.arange(nx) + 0.5) * res
    step = max(1, 131072 // nx)

    def strip(r0: int) -> None:
        sl = slice(r0, min(ny, r0 + step))
        y, x = np.meshgrid((np.arange(sl.start, sl.stop) + 0.5) * res, xs, indexing="ij")
        e = parcels.edges_at(x, y, _blocks(parcels, x, y, res), near=res)
        h = res * (np.abs(e["nx"]) + np.abs(e["ny"]))
        out["key"][sl], out["key2"][sl] = e["key"], e["key2"]
        out["f2"][sl] = np.clip(0.5 - e["d"] / h, 0.0, 0.5)
        out["kind2"][sl] = e["kind"]
        # tramlines: 1.5 m of wheel tracks every 20 m across the strip (block frame u)
        hu = 0.5 * res * (np.abs(e["strip_nx"]) + np.abs(e["strip_ny"]))
        out["tram"][sl] = _periodic_cover(e["u"] + 7.0, hu, 20.0, 1.5)
        # building lots for town fields: 35 m x 45 m in the block frame
        out["lot_u"][sl], out["lot_v"][sl] = e["u"] / 35.0, e["v"] / 45.0
        # roads and hedgerows on block edges; hedges on some strip edges
        lo, hi = np.minimum(e["b1"], e["b2"]), np.maximum(e["b1"], e["b2"])
        pick = hash01(salt, lo, hi)
        hb = res * (np.abs(e["block_nx"]) + np.abs(e["block_ny"]))
        road = line_cover(e["block_d"], 6.0, hb) * (pick < arc.road_p)
        hedge = line_cover(e["block_d"], 5.0, hb) * ((pick >= arc.road_p) & (pick < arc.road_p + arc.hedge_p))
        edge_i = e["strip"] + (e["strip_nx"] * np.cos(parcels.theta.ravel()[e["b1"]]) > 0)
        fh = hash01(salt, e["b1"], edge_i, 5) < arc.field_hedge_p
        hs = res * (np.abs(e["strip_nx"]) + np.abs(e["strip_ny"]))
        hedge = np.maximum(hedge, line_cover(e["strip_d"], 4.0, hs) * fh)
        trees = _point_cover(x, y, arc.tree_cell_m, arc.tree_p, (3.0, 7.0), salt + 1, res)
        woody = np.maximum(hedge, trees)
        roofs = _farm_cover(x, y, arc, salt + 2, res)
        frac = np.maximum(np.maximum(road, woody), roofs)
        kind = np.where(
            frac == 0, 0, np.where(road >= np.maximum(woody, roofs), 1, np.where(woody >= roofs, 2, 3))
        )
        out["feat_kind"][sl], out["feat_frac"][sl] = kind, frac

    # row strips are independent and NumPy releases the GIL: two threads halve the wall time
    with ThreadPoolExecutor(max_workers=2) as pool:
        list(pool.map(strip, range(0, ny, step)))
    return out


def make_landscape(
    shape: tuple[int, int], seed: int = 0, resolution: float = 10.0, archetype: str | None = None
) -> Landscape:
    """Generate a landscape of ``shape`` pixels at ``resolution`` metres.

    Parameters
    ----------
    shape
        ``(ny, nx)`` of the 10 m grid.
    seed
        Seed of every draw; the same seed gives the same landscape.
    archetype
        A key of :data:`ARCHETYPES`, ``"auto"`` (chosen by the seed) or ``None``
        (``"central_europe"``).

    Examples
    --------
    >>> land = make_landscape((300, 300), seed=1)
    >>> sorted(set(np.unique(land.labels).tolist())) == sorted(CLASSES)
    True
    """
    arc = archetype_for(archetype, seed)
    rng = np.random.default_rng([seed, 101])
    ny, nx = shape
    coarse = max(1, int(80 / resolution))
    salt = int(rng.integers(1 << 30))
    parcels = make_parcels(nx * resolution, ny * resolution, arc.block_m, arc.strip_m, arc.segment_m,
                           seed=seed, theta_spread_deg=arc.theta_spread_deg)  # fmt: skip
    e = _edges(parcels, shape, resolution, arc, salt)

    # compact parcel ids over the own and the neighbouring parcels
    mixed = e["f2"] > 0
    keys, inv = np.unique(np.concatenate([e["key"].ravel(), e["key2"][mixed]]), return_inverse=True)
    nf = keys.size
    field_id = inv[: ny * nx].reshape(shape).astype("int32")
    mix_field = field_id.copy()
    mix_field[mixed] = inv[ny * nx :]

    # per-field class by share; the town takes the fields where the town field is highest
    names = [c for c, _ in arc.crops]
    probs = np.array([p for _, p in arc.crops])
    field_cls = rng.choice(names, size=nf, p=probs / probs.sum())
    town = fractal_noise(shape, rng, beta=4.0, coarsen=coarse)
    cnt = np.bincount(field_id.ravel(), minlength=nf)
    town_f = np.bincount(field_id.ravel(), weights=town.ravel(), minlength=nf) / np.maximum(cnt, 1)
    town_f[cnt == 0] = -np.inf
    seen = town_f[cnt > 0]
    if arc.urban > 0 and seen.size:
        field_cls[town_f >= np.quantile(seen, 1.0 - arc.urban)] = "urban"
    codes = np.array([CLASS_CODES[c] for c in field_cls], dtype="uint8")
    labels = codes[field_id]
    mix_label = np.where(mixed, codes[mix_field], 0).astype("uint8")
    mix_frac = e["f2"]

    # forests and lakes: natural shapes over the parcels with a sub-pixel soft edge
    urban = labels == CLASS_CODES["urban"]
    forest = fractal_noise(shape, rng, beta=3.5, coarsen=coarse) + 0.15 * fractal_noise(shape, rng, beta=2.0)
    kind = fractal_noise(shape, rng, beta=4.0, coarsen=coarse)
    water = fractal_noise(shape, rng, beta=3.5, coarsen=coarse) + 0.1 * fractal_noise(shape, rng, beta=2.0)
    for cover, code in (
        (
            _soft_mask(forest, arc.forest) * ~urban,
            np.where(kind >= 0, CLASS_CODES["deciduous"], CLASS_CODES["conifer"]),
        ),
        (_soft_mask(water, arc.water), np.full(shape, CLASS_CODES["water"])),
    ):
        edge = (cover > 0) & (cover < 1)
        inside = cover >= 0.5
        other = np.where(inside, labels, code)
        labels = np.where(inside, code, labels).astype("uint8")
        mix_label = np.where(edge, other, mix_label).astype("uint8")
        mix_field = np.where(edge, field_id, mix_field)
        mix_frac = np.where(edge, np.minimum(cover, 1 - cover), mix_frac).astype("float32")
    forest_level = (forest - _threshold(forest, arc.forest)).astype("float32")
    water_level = (water - _threshold(water, arc.water)).astype("float32")

    # within-field heterogeneity at 10-30 m: canopy density / soil patches and tramlines
    tex = arc.texture * fractal_noise(shape, rng, beta=2.0) + 0.6 * arc.texture * fractal_noise(
        shape, rng, beta=2.6, coarsen=2
    )
    texture = np.exp(tex - 0.5 * np.var(tex)).astype("float32")
    arable = np.isin(labels, [CLASS_CODES[c] for c in ("wheat", "rapeseed", "maize", "soybean", "sugarbeet")])
    texture[arable] *= 1.0 - 0.6 * e["tram"][arable]
    texture = np.clip(texture, 0.3, 2.0)

    # town: building lots and streets in each urban block's frame
    lot_u, lot_v = e["lot_u"], e["lot_v"]
    fu, fv = lot_u - np.floor(lot_u), lot_v - np.floor(lot_v)
    street = (np.minimum(fu, 1 - fu) * 35.0 < 4.0) | (np.minimum(fv, 1 - fv) * 45.0 < 4.0)
    lot = hash01(salt, field_id, np.floor(lot_u), np.floor(lot_v), 9)
    material = (len(URBAN_STREETS) + np.floor(lot * len(URBAN_BLOCKS))).astype("uint8")
    material[street] = 0
    material[~urban] = 0
    sample = (hash01(salt, field_id, np.floor(lot_u), np.floor(lot_v), 8) * (1 << 15)).astype("int32")
    green = np.clip(0.25 + 0.25 * fractal_noise(shape, rng, beta=2.0), 0.0, 0.9).astype("float32")
    green[street] *= 0.2
    green[~urban] = 0.0

    water_mix = (0.5 + 0.2 * fractal_noise(shape, rng, beta=3.0, coarsen=coarse)).clip(0, 1).astype("float32")
    normal = None
    if arc.relief_m > 0:
        dem = arc.relief_m * fractal_noise(shape, rng, beta=4.0)  # full resolution: smooth slopes
        gy, gx = np.gradient(dem.astype("float64"), resolution)
        nz = 1.0 / np.sqrt(1.0 + gx**2 + gy**2)
        # rows run south: d/dy(row) = -d/d(north)
        normal = ((-gx * nz).astype("float32"), (gy * nz).astype("float32"), nz.astype("float32"))

    return Landscape(
        labels=labels,
        field_id=field_id,
        field_shift=rng.normal(0.0, 5.0, nf).astype("float32"),
        field_scale=rng.uniform(0.8, 1.1, nf).astype("float32"),
        field_soil=rng.uniform(*arc.soil, nf).astype("float32"),
        texture=texture,
        urban_material=material,
        urban_sample=sample,
        urban_green=green,
        water_mix=water_mix,
        mix_label=mix_label,
        mix_field=mix_field.astype("int32"),
        mix_frac=mix_frac,
        feat_kind=e["feat_kind"],
        feat_frac=e["feat_frac"],
        normal=normal,
        archetype=arc.name,
        parcels=parcels,
        field_keys=keys,
        field_codes=codes,
        forest_level=forest_level,
        forest_kind=kind,
        water_level=water_level,
        resolution=float(resolution),
    )
