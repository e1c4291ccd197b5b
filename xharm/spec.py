"""Value objects that describe a patch model: what goes in, what comes out, how it is scaled.

Pure Python + NumPy (the model zoo and the training code import it; no xarray, Dask or
JAX here). Everything is a frozen, hashable dataclass with a cheap deterministic Dask
token, so a :class:`ModelSpec` can travel inside task graphs and be saved with weights.

A model reads one or more *input groups* (bands of one resolution, cut into square
patches) and writes one *output group*. All groups of a spec cover the same ground
footprint per patch: ``patch * resolution`` is equal for every group (MGAN: 384 px x
10 m = 192 px x 20 m = 128 px x 30 m = 3840 m).

The two worlds (Dask plumbing, JAX models) meet at :class:`PredictFn`: a mapping of
input-group name -> float32 ``(N, H, W, C)`` batch in, a float32 ``(N, H, W, C_out)``
batch out. A :class:`ModelHandle` is a small frozen object whose ``load()`` returns a
``PredictFn``; task graphs carry the handle, workers load the weights once.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import numpy as np

from .exceptions import DimensionError, GridError, MissingBandError, describe

__all__ = [
    "ANCHOR_GROUP",
    "MGAN_SPEC",
    "S2_10M_GUIDE",
    "S2_20M_SHARP",
    "S2_60M_SHARP",
    "InputGroup",
    "ModelHandle",
    "ModelSpec",
    "NormStats",
    "OutputGroup",
    "PredictFn",
    "mgan_spec",
]

_FOOTPRINT_TOL = 1e-6


@runtime_checkable
class PredictFn(Protocol):
    """A patch model: ``{group name: float32 (N, H, W, C)}`` -> float32 ``(N, H, W, C_out)``.

    Must be pure per patch (the output for one patch does not depend on the other
    patches of the batch) and must accept any ``N >= 1``.
    """

    def __call__(self, batch: Mapping[str, np.ndarray], /) -> np.ndarray: ...


@runtime_checkable
class ModelHandle(Protocol):
    """A frozen, hashable, picklable reference to a model (e.g. a path + checksum).

    ``load()`` builds the :class:`PredictFn`; :func:`xharm.engine.apply.load_predict_fn` caches it
    per process, so Dask tasks carry only the handle and each worker loads weights once.
    """

    def load(self) -> PredictFn: ...


def _as_str_tuple(values: Any, what: str) -> tuple[str, ...]:
    if isinstance(values, str):
        values = (values,)
    out = tuple(str(v) for v in values)
    if not out:
        raise MissingBandError(describe(f"{what} has no bands", expected="at least one band", found="()"))
    if len(set(out)) != len(out):
        raise MissingBandError(describe(f"{what} lists a band twice", expected="unique bands", found=out))
    return out


@dataclass(frozen=True)
class InputGroup:
    """Bands of one resolution that a model reads as one input head.

    Parameters
    ----------
    name
        Group name, the key in the ``PredictFn`` batch (e.g. ``"s2_10m"``).
    bands
        Band ids in channel order.
    resolution
        Pixel size in metres.
    patch
        Patch side in pixels at this resolution.

    Examples
    --------
    >>> InputGroup("s2_20m", ("B11", "B12"), 20.0, 192).footprint
    3840.0
    """

    name: str
    bands: tuple[str, ...]
    resolution: float
    patch: int

    def __post_init__(self) -> None:
        object.__setattr__(self, "bands", _as_str_tuple(self.bands, f"group {self.name!r}"))
        object.__setattr__(self, "resolution", float(self.resolution))
        object.__setattr__(self, "patch", int(self.patch))
        if self.resolution <= 0 or self.patch <= 0:
            raise DimensionError(
                describe(
                    f"group {self.name!r} has a non-positive resolution or patch size",
                    expected="resolution > 0 m and patch > 0 px",
                    found=f"resolution={self.resolution}, patch={self.patch}",
                )
            )

    @property
    def footprint(self) -> float:
        """Patch side on the ground, in metres."""
        return self.patch * self.resolution

    @property
    def n_bands(self) -> int:
        """Number of channels."""
        return len(self.bands)

    def to_dict(self) -> dict[str, Any]:
        """Plain-JSON form."""
        return {
            "name": self.name,
            "bands": list(self.bands),
            "resolution": self.resolution,
            "patch": self.patch,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Any:
        """Inverse of :meth:`to_dict`."""
        return cls(d["name"], tuple(d["bands"]), float(d["resolution"]), int(d["patch"]))


@dataclass(frozen=True)
class OutputGroup(InputGroup):
    """The bands a model writes (same fields as :class:`InputGroup`).

    Examples
    --------
    >>> OutputGroup("l8", ("B2", "B3"), 30, 128).patch
    128
    """


@dataclass(frozen=True)
class NormStats:
    """Per-band clip range and affine normalization with an exact inverse.

    ``normalize``: clip to ``[low, high]`` (unless ``clip=False``: then ``low``/``high`` only
    record the training range), then ``(x - mean) / scale``.
    ``denormalize``: ``x * scale + mean``; it inverts ``normalize`` exactly (up to float
    rounding) on values inside ``[low, high]``. NaN stays NaN.

    Examples
    --------
    >>> import numpy as np
    >>> s = NormStats(("B02",), low=(0.0,), high=(0.5,), mean=(0.1,), scale=(0.4,))
    >>> s.normalize(np.array([[0.1], [0.9]]), axis=-1).ravel().tolist()
    [0.0, 1.0]
    >>> float(s.denormalize(np.array([1.0]), axis=-1)[0])
    0.5
    """

    bands: tuple[str, ...]
    low: tuple[float, ...]
    high: tuple[float, ...]
    mean: tuple[float, ...]
    scale: tuple[float, ...]
    clip: bool = True

    def __post_init__(self) -> None:
        object.__setattr__(self, "bands", _as_str_tuple(self.bands, "NormStats"))
        object.__setattr__(self, "clip", bool(self.clip))
        n = len(self.bands)
        for name in ("low", "high", "mean", "scale"):
            vals = tuple(float(v) for v in getattr(self, name))
            if len(vals) != n:
                raise DimensionError(
                    describe(
                        f"NormStats.{name} has the wrong length",
                        expected=f"{n} values (one per band {self.bands})",
                        found=len(vals),
                    )
                )
            object.__setattr__(self, name, vals)
        if any(s <= 0 or not np.isfinite(s) for s in self.scale):
            raise DimensionError(describe("NormStats.scale must be finite and > 0", found=self.scale))

    def _vec(self, values: tuple[float, ...], ndim: int, axis: int, dtype: Any) -> np.ndarray:
        shape = [1] * ndim
        shape[axis] = len(values)
        return np.asarray(values, dtype=dtype).reshape(shape)

    def _check(self, x: np.ndarray, axis: int) -> int:
        axis = axis % x.ndim
        if x.shape[axis] != len(self.bands):
            raise DimensionError(
                describe(
                    "array has the wrong number of bands for these NormStats",
                    expected=f"{len(self.bands)} ({', '.join(self.bands)}) on axis {axis}",
                    found=f"{x.shape[axis]} (shape {x.shape})",
                )
            )
        return axis

    def normalize(self, x: Any, axis: int = -1) -> np.ndarray:
        """Clip each band to ``[low, high]`` (when ``clip``), subtract ``mean``, divide by ``scale``."""
        x = np.asarray(x)
        dtype = x.dtype if np.issubdtype(x.dtype, np.floating) else np.float32
        axis = self._check(x, axis)
        v = [self._vec(t, x.ndim, axis, dtype) for t in (self.low, self.high, self.mean, self.scale)]
        base = np.clip(x, v[0], v[1]) if self.clip else x
        out = base.astype(np.result_type(x.dtype, dtype), copy=base is x)  # never the caller's array
        out -= v[2]  # in place: one array, not three (same values)
        out /= v[3]
        return out

    def denormalize(self, x: Any, axis: int = -1) -> np.ndarray:
        """Inverse of :meth:`normalize`: ``x * scale + mean``."""
        x = np.asarray(x)
        dtype = x.dtype if np.issubdtype(x.dtype, np.floating) else np.float32
        axis = self._check(x, axis)
        return x * self._vec(self.scale, x.ndim, axis, dtype) + self._vec(self.mean, x.ndim, axis, dtype)

    def select(self, bands: tuple[str, ...] | list[str]) -> NormStats:
        """The stats of some bands, in the given order."""
        missing = [b for b in bands if b not in self.bands]
        if missing:
            raise MissingBandError(
                describe(
                    f"no normalization stats for band(s) {', '.join(missing)}",
                    expected=", ".join(bands),
                    found=", ".join(self.bands),
                    fix="compute stats for these bands (xharm.train.data.norm_stats_from_patches)",
                )
            )
        idx = [self.bands.index(b) for b in bands]
        pick = lambda t: tuple(t[i] for i in idx)  # noqa: E731
        return NormStats(
            tuple(bands), pick(self.low), pick(self.high), pick(self.mean), pick(self.scale), self.clip
        )

    def to_dict(self) -> dict[str, Any]:
        """Plain-JSON form (floats round-trip exactly through ``json``); ``clip`` only when False."""
        d: dict[str, Any] = {k: list(getattr(self, k)) for k in ("bands", "low", "high", "mean", "scale")}
        if not self.clip:
            d["clip"] = False
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> NormStats:
        """Inverse of :meth:`to_dict`."""
        bands, low, high, mean, scale = (tuple(d[k]) for k in ("bands", "low", "high", "mean", "scale"))
        return cls(bands, low, high, mean, scale, clip=bool(d.get("clip", True)))


@dataclass(frozen=True)
class ModelSpec:
    """Everything the engine needs to know about a patch model, saved with its weights.

    Parameters
    ----------
    name, version
        Model identity (``"mgan"``, ``"1.0"``).
    inputs
        Input groups (one model head each), in the order the model expects.
    output
        Output group.
    buffer
        Fraction of the output patch skipped on each side when stitching (MGAN: 1/4).
    norm
        Normalization stats per group name (inputs and output); a dict is accepted and
        stored as a sorted tuple of ``(name, NormStats)`` pairs to stay hashable.
    sensor_in, sensor_out
        Sensor names (:func:`xharm.core.sensors.get_sensor`) of input and output bands.
    checksum
        Checksum of the weights (e.g. ``"sha256:..."``).
    meta
        Free ``(key, value)`` string pairs.
    seam_buffer
        Stitching buffer in output px chosen for this model from a measured seam error
        (:func:`xharm.engine.seams.choose_buffer`); when set it replaces ``buffer`` in
        :attr:`buffer_px`. None: the ``buffer`` fraction.
    seam_error
        Max |difference| (output units, e.g. reflectance) between two tilings of the same
        input at ``seam_buffer``, as measured when it was chosen.

    Examples
    --------
    >>> spec = mgan_spec()
    >>> [g.patch for g in spec.inputs], spec.output.patch, spec.buffer
    ([384, 192], 128, 0.25)
    >>> ModelSpec.from_json(spec.to_json()) == spec
    True
    """

    name: str
    version: str
    inputs: tuple[InputGroup, ...]
    output: OutputGroup
    buffer: float = 0.25
    norm: Any = None  # tuple[tuple[str, NormStats], ...] | None (dict accepted)
    sensor_in: str = "sentinel-2"
    sensor_out: str = "landsat-8"
    checksum: str | None = None
    meta: tuple[tuple[str, str], ...] = field(default=())
    seam_buffer: int | None = None  # stitching buffer (output px) from a measured seam error
    seam_error: float | None = None  # max |difference| of two tilings at seam_buffer (output units)

    def __post_init__(self) -> None:
        inputs = tuple(self.inputs)
        object.__setattr__(self, "inputs", inputs)
        object.__setattr__(self, "buffer", float(self.buffer))
        if isinstance(self.meta, Mapping):
            object.__setattr__(self, "meta", tuple(sorted((str(k), str(v)) for k, v in self.meta.items())))
        else:
            object.__setattr__(self, "meta", tuple((str(k), str(v)) for k, v in self.meta))
        if self.norm is not None:
            items = self.norm.items() if isinstance(self.norm, Mapping) else self.norm
            object.__setattr__(
                self, "norm", tuple(sorted(((str(k), v) for k, v in items), key=lambda p: p[0]))
            )
        if not inputs:
            raise DimensionError(describe(f"model {self.name!r} has no input groups", expected=">= 1"))
        names = [g.name for g in inputs] + [self.output.name]
        if len(set(names)) != len(names):
            raise DimensionError(describe("group names must be unique", found=names))
        if not 0.0 <= self.buffer < 0.5:
            raise DimensionError(
                describe("buffer fraction out of range", expected="0 <= buffer < 0.5", found=self.buffer)
            )
        if self.seam_buffer is not None:
            object.__setattr__(self, "seam_buffer", int(self.seam_buffer))
            if not 0 <= self.seam_buffer < self.output.patch / 2:
                raise DimensionError(
                    describe(
                        "seam_buffer out of range",
                        expected=f"0 <= seam_buffer < {self.output.patch / 2:g} (half the output patch)",
                        found=self.seam_buffer,
                    )
                )
        if self.seam_error is not None:
            object.__setattr__(self, "seam_error", float(self.seam_error))
        fp = self.output.footprint
        for g in inputs:
            if abs(g.footprint - fp) > _FOOTPRINT_TOL * fp:
                raise GridError(
                    describe(
                        f"input group {g.name!r} covers a different ground patch than the output",
                        expected=f"patch x resolution = {fp:g} m (output {self.output.patch} px x "
                        f"{self.output.resolution:g} m)",
                        found=f"{g.patch} px x {g.resolution:g} m = {g.footprint:g} m",
                        fix="choose patch sizes so that every group covers the same footprint",
                    )
                )
        for gname, stats in self.norm or ():
            group = self.group(gname)
            if not isinstance(stats, NormStats):
                raise DimensionError(
                    describe(f"norm[{gname!r}] is not a NormStats", found=type(stats).__name__)
                )
            stats.select(group.bands)  # raises when bands are missing

    # ------------------------------------------------------------------ access
    @property
    def groups(self) -> tuple[InputGroup, ...]:
        """Input groups followed by the output group."""
        return (*self.inputs, self.output)

    def group(self, name: str) -> InputGroup:
        """The input or output group called ``name``."""
        for g in self.groups:
            if g.name == name:
                return g
        raise KeyError(
            describe(
                f"model {self.name!r} has no group {name!r}",
                expected=", ".join(g.name for g in self.groups),
                found=name,
            )
        )

    def norm_for(self, name: str) -> NormStats | None:
        """The normalization stats of group ``name`` (bands in group order), or None."""
        for gname, stats in self.norm or ():
            if gname == name:
                return stats.select(self.group(name).bands)
        return None

    def norms(self) -> dict[str, NormStats]:
        """The normalization stats of every group that has them (:meth:`norm_for` of each)."""
        return {g.name: n for g in self.groups if (n := self.norm_for(g.name)) is not None}

    def with_norm(self, norm: Mapping[str, NormStats]) -> ModelSpec:
        """A copy with other normalization stats."""
        return _replace(self, norm=dict(norm))

    @property
    def anchored(self) -> bool:
        """Whether the model adds a bounded correction to a physical baseline (:data:`ANCHOR_GROUP`)."""
        return any(g.name == ANCHOR_GROUP for g in self.inputs)

    @property
    def domain(self) -> dict[str, Any]:
        """The input domain recorded in ``meta`` at training time (JSON values decoded).

        Keys (each optional): ``processing_level`` (``"L2A"``/``"L1C"``), ``correction_bound``
        (reflectance: the largest correction an anchored model adds to its physics part),
        ``reflectance_range`` (``{band: [low, high]}`` of the training inputs),
        ``sun_zenith_range`` (``[low, high]`` degrees: the Sentinel-2 sun zenith of the
        training dates) and ``archetypes`` (landscape types of the training scenes).

        Examples
        --------
        >>> s = ModelSpec(**{**mgan_spec(32).__dict__, "meta": (("correction_bound", "0.05"),)})
        >>> s.domain["correction_bound"]
        0.05
        """
        out: dict[str, Any] = {}
        for k, v in self.meta:
            if k in DOMAIN_KEYS:
                try:
                    out[k] = json.loads(v)
                except json.JSONDecodeError:
                    out[k] = v
        return out

    @property
    def buffer_px(self) -> int:
        """Buffer in output pixels: ``seam_buffer`` when set, else ``round(buffer * output.patch)``."""
        if self.seam_buffer is not None:
            return self.seam_buffer
        return round(self.buffer * self.output.patch)

    def with_seam_buffer(self, buffer_px: int, error: float) -> ModelSpec:
        """A copy stitching with ``buffer_px`` output px, whose measured seam error was ``error``."""
        return _replace(self, seam_buffer=int(buffer_px), seam_error=float(error))

    # ------------------------------------------------------------------ (de)serialization
    def to_dict(self) -> dict[str, Any]:
        """Plain-JSON form."""
        return {
            "name": self.name,
            "version": self.version,
            "inputs": [g.to_dict() for g in self.inputs],
            "output": self.output.to_dict(),
            "buffer": self.buffer,
            "norm": None if self.norm is None else {k: v.to_dict() for k, v in self.norm},
            "sensor_in": self.sensor_in,
            "sensor_out": self.sensor_out,
            "checksum": self.checksum,
            "meta": [list(p) for p in self.meta],
        } | {k: getattr(self, k) for k in _OPTIONAL if getattr(self, k) is not None}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> ModelSpec:
        """Inverse of :meth:`to_dict`."""
        norm = d.get("norm")
        return cls(
            name=d["name"],
            version=d["version"],
            inputs=tuple(InputGroup.from_dict(g) for g in d["inputs"]),
            output=OutputGroup.from_dict(d["output"]),
            buffer=float(d.get("buffer", 0.25)),
            norm=None if norm is None else {k: NormStats.from_dict(v) for k, v in norm.items()},
            sensor_in=d.get("sensor_in", "sentinel-2"),
            sensor_out=d.get("sensor_out", "landsat-8"),
            checksum=d.get("checksum"),
            meta=tuple(tuple(p) for p in d.get("meta", ())),
            **{k: d[k] for k in _OPTIONAL if d.get(k) is not None},
        )

    def to_json(self) -> str:
        """Deterministic JSON (sorted keys); ``ModelSpec.from_json(s.to_json()) == s``."""
        return json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> ModelSpec:
        """Inverse of :meth:`to_json`."""
        return cls.from_dict(json.loads(text))

    def __dask_tokenize__(self) -> tuple[str, str]:
        return ("xharm.ModelSpec", self.to_json())


_OPTIONAL = ("seam_buffer", "seam_error")  # later fields: in to_dict only when set, so old digests hold


def _replace(spec: ModelSpec, **changes: Any) -> ModelSpec:
    d = {k: getattr(spec, k) for k in spec.__dataclass_fields__}
    d.update(changes)
    return ModelSpec(**d)


#: Name of the input group that carries the physical baseline of a physics-anchored model
#: (``method="hls_psf"`` on the output grid, normalized with the output's stats).
ANCHOR_GROUP = "physics"
#: ``meta`` keys that make up :attr:`ModelSpec.domain` (the input domain recorded at training time).
DOMAIN_KEYS = ("processing_level", "correction_bound", "reflectance_range", "sun_zenith_range", "archetypes")

S2_10M_BANDS: tuple[str, ...] = ("B02", "B03", "B04", "B08")
S2_20M_BANDS: tuple[str, ...] = ("B11", "B12")
L8_BANDS: tuple[str, ...] = ("B2", "B3", "B4", "B5", "B6", "B7")
S2_10M_GUIDE: tuple[str, ...] = S2_10M_BANDS  # the 10 m guide bands of band sharpening (DSen2)
S2_20M_SHARP: tuple[str, ...] = ("B05", "B06", "B07", "B8A", "B11", "B12")  # sharpened by the 20 m net
S2_60M_SHARP: tuple[str, ...] = ("B01", "B09")  # sharpened by the 60 m net (B10, cirrus, is not)


def mgan_spec(
    patch30: int = 128,
    *,
    version: str = "0",
    norm: Mapping[str, NormStats] | None = None,
    bands_20m: Sequence[str] = S2_20M_BANDS,
    anchored: bool = False,
) -> ModelSpec:
    """The MGAN spec of Sedona et al. (2021), with the 30 m patch size as a parameter.

    ``anchored=True`` (xharm's physics-anchored MGAN) adds a third input group,
    :data:`ANCHOR_GROUP` (``"physics"``: the L8 bands of ``method="hls_psf"`` at 30 m,
    ``patch30`` px), to which the generator adds its bounded correction.

    Inputs ``s2_10m`` (B02, B03, B04, B08; 10 m; ``3 * patch30`` px) and ``s2_20m``
    (``bands_20m``, the paper's B11, B12 by default; 20 m; ``1.5 * patch30`` px); output
    ``l8`` (B2..B7; 30 m; ``patch30`` px); buffer 1/4. ``patch30`` must be a multiple of 8
    so that the 20 m patch, the buffer and the stride are whole pixels on every grid.

    Examples
    --------
    >>> s = mgan_spec(32)
    >>> [(g.name, g.patch) for g in s.groups]
    [('s2_10m', 96), ('s2_20m', 48), ('l8', 32)]
    >>> mgan_spec(32, bands_20m=("B8A", "B11", "B12")).inputs[1].bands
    ('B8A', 'B11', 'B12')
    >>> [g.name for g in mgan_spec(32, anchored=True).inputs]
    ['s2_10m', 's2_20m', 'physics']
    """
    if patch30 <= 0 or patch30 % 8:
        raise GridError(
            describe(
                "MGAN 30 m patch size must be a positive multiple of 8",
                expected="e.g. 128 (paper), 64, 32",
                found=patch30,
                fix="so that 20 m patches (1.5x) and the 1/4 buffer are whole pixels",
            )
        )
    return ModelSpec(
        name="mgan",
        version=version,
        inputs=(
            InputGroup("s2_10m", S2_10M_BANDS, 10.0, 3 * patch30),
            InputGroup("s2_20m", tuple(bands_20m), 20.0, 3 * patch30 // 2),
        )
        + ((InputGroup(ANCHOR_GROUP, L8_BANDS, 30.0, patch30),) if anchored else ()),
        output=OutputGroup("l8", L8_BANDS, 30.0, patch30),
        buffer=0.25,
        norm=norm,
        sensor_in="sentinel-2",
        sensor_out="landsat-8",
    )


MGAN_SPEC: ModelSpec = mgan_spec(128)
