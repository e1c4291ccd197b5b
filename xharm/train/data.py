"""Training patches: load, split, normalize, and iterate in a seeded order.

A patch set is a dict of NumPy arrays ``(N, H, W, C)``, one per group of the model's
:class:`~xharm.spec.ModelSpec` (for the MGAN: ``"s2_10m"``, ``"s2_20m"`` inputs and the
``"l8"`` target), in physical units (reflectance) unless the store says otherwise. Nothing
here knows a model's groups: they come from the spec (or the store). It is read from

* a Zarr store (group) with one array per group name, as written by the patch
  engine or :func:`save_patches` (``fmt="zarr"``), or
* a directory of ``<group>.npy`` files (read with ``allow_pickle=False``),

optionally with per-group :class:`~xharm.spec.NormStats` (``norm.json`` beside the
``.npy`` files, or the Zarr group's ``norm`` attribute). No pickle anywhere. The
order of batches depends only on the seed and the epoch, so a resumed run sees
exactly the batches an uninterrupted one would.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..exceptions import DimensionError, EmptyDataError, MissingBandError, ProductNotFoundError, describe
from ..spec import ANCHOR_GROUP, ModelSpec, NormStats

__all__ = [
    "PatchSet",
    "batch_at",
    "epoch_order",
    "load_patches",
    "norm_stats_from_patches",
    "patchset_from_stream",
    "save_patches",
    "steps_per_epoch",
]


@dataclass(frozen=True, eq=False)
class PatchSet:
    """Paired patches: ``arrays[group]`` is ``(N, H, W, C)``; ``norm`` maps group -> NormStats.

    Examples
    --------
    >>> z = lambda s: np.zeros((5, s, s, 1), np.float32)
    >>> ps = PatchSet({"s2_10m": z(6), "s2_20m": z(3), "l8": z(2)})
    >>> len(ps), len(ps.subset(np.arange(2)))
    (5, 2)
    """

    arrays: Mapping[str, Any]  # NumPy arrays, memory maps, or the row views of subset / normalize
    norm: Mapping[str, NormStats] | None = None
    normalized: bool = False  # True once :meth:`normalize` has run (or the store says so)
    target: str = "l8"  # the output group (``spec.output.name``); the others are inputs

    def __post_init__(self) -> None:
        if self.target not in self.arrays:
            raise MissingBandError(
                describe(
                    f"patch set lacks its target group {self.target!r}",
                    expected=f"{self.target} beside the input groups",
                    found=", ".join(self.arrays) or "nothing",
                    fix="write the patches with extract_pairs or save_patches",
                )
            )
        sizes = {g: np.shape(a) for g, a in self.arrays.items()}
        if any(len(s) != 4 for s in sizes.values()) or len({s[0] for s in sizes.values()}) != 1:
            raise DimensionError(
                describe(
                    "patch arrays must be (N, H, W, C) with the same N",
                    expected="e.g. s2_10m (N, 384, 384, 4), s2_20m (N, 192, 192, 2), l8 (N, 128, 128, 6)",
                    found=sizes,
                )
            )

    def __len__(self) -> int:
        return int(np.shape(self.arrays[self.target])[0])

    @property
    def groups(self) -> tuple[str, ...]:
        """The group names, inputs and target."""
        return tuple(self.arrays)

    def shapes(self) -> dict[str, tuple[int, ...]]:
        """Per-sample shape of every group."""
        return {g: tuple(np.shape(a)[1:]) for g, a in self.arrays.items()}

    def subset(self, index: np.ndarray) -> PatchSet:
        """The patches at ``index``: row views read when indexed (a memory-mapped store is not copied)."""
        index = np.asarray(index)
        arrays = {g: _Rows(a, index) for g, a in self.arrays.items()}
        return PatchSet(arrays, self.norm, self.normalized, self.target)

    def split(self, val_fraction: float, seed: int) -> tuple[PatchSet, PatchSet | None]:
        """Seeded random split into (train, validation); validation is None when empty."""
        n = len(self)
        n_val = round(n * val_fraction)
        if n_val == 0:
            return self, None
        order = np.random.default_rng([seed, 2**31 - 1]).permutation(n)
        return self.subset(np.sort(order[n_val:])), self.subset(np.sort(order[:n_val]))

    def with_norm(self, norm: Mapping[str, NormStats]) -> PatchSet:
        """A copy carrying other normalization stats (values untouched)."""
        return PatchSet(self.arrays, dict(norm), self.normalized, self.target)

    def normalize(self) -> PatchSet:
        """Clip and normalize every group with ``self.norm``; NaN (no data) becomes 0 (the mean).

        Lazy: the patches are normalized when a batch is read (``arrays[g][rows]``), so a
        training set larger than memory streams from its memory-mapped store.
        """
        if self.normalized:
            return self
        if self.norm is None:
            raise EmptyDataError(
                describe("patch set has no normalization stats", fix="use norm_stats_from_patches")
            )
        out = {g: _Normalized(a, self.norm[g]) for g, a in self.arrays.items()}
        return PatchSet(out, self.norm, True, self.target)


class _RowView:
    """A patch array read when rows are indexed; ``np.asarray(view)`` reads every row."""

    def __len__(self) -> int:
        raise NotImplementedError

    def __getitem__(self, key: Any) -> np.ndarray:
        raise NotImplementedError

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        out = self[np.arange(len(self))]
        return out if dtype is None else out.astype(dtype)


class _Rows(_RowView):
    """Rows ``index`` of a (memory-mapped) ``(N, H, W, C)`` patch array, read when indexed.

    Supports what training reads: ``rows[i]`` (an int array or slice of rows), ``rows[..., band]``
    (one band of every row) and ``np.asarray(rows)`` (everything).
    """

    def __init__(self, base: Any, index: np.ndarray) -> None:
        self.base, self.index = base, np.asarray(index)

    @property
    def shape(self) -> tuple[int, ...]:
        return (len(self.index), *np.shape(self.base)[1:])

    @property
    def dtype(self) -> Any:
        return np.asarray(self.base[:0]).dtype

    def __len__(self) -> int:
        return len(self.index)

    def __getitem__(self, key: Any) -> np.ndarray:
        key = key if isinstance(key, tuple) else (key,)
        if key and key[0] is Ellipsis:
            key = (slice(None),) * (len(self.shape) - len(key) + 1) + key[1:]
        rows, rest = self.index[key[0]], key[1:]
        if rest and isinstance(self.base, np.ndarray):  # e.g. one band: read only that part
            return np.asarray(self.base[(rows, *rest)])
        return np.asarray(self.base[rows])[(slice(None),) * np.ndim(rows) + rest]


class _Normalized(_RowView):
    """A patch array normalized with ``stats`` when rows are read (``x[rows]``, ``np.asarray(x)``)."""

    def __init__(self, base: Any, stats: NormStats) -> None:
        self.base, self.stats = base, stats

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(np.shape(self.base))

    dtype = np.dtype(np.float32)

    def __len__(self) -> int:
        return int(np.shape(self.base)[0])

    def __getitem__(self, rows: Any) -> np.ndarray:
        x = np.asarray(self.base[rows], dtype=np.float32)
        x = self.stats.normalize(x, axis=-1).astype(np.float32)
        return np.nan_to_num(x, nan=0.0, posinf=0.0, neginf=0.0)


def patchset_from_stream(stream: Any) -> PatchSet:
    """Materialize a pair stream (``xharm.engine.pairs.extract_pairs``; duck-typed) into a :class:`PatchSet`.

    Reads every batch of epoch 0 once. Patches carry the stream's normalization:
    when it normalized with ``spec.norm`` the set is marked normalized and keeps those stats.
    """
    spec = stream.spec
    groups = [g.name for g in spec.groups]
    parts: dict[str, list[np.ndarray]] = {g: [] for g in groups}
    for batch in stream.iter_epoch(0):
        for g in groups:
            parts[g].append(np.asarray(batch[g], dtype=np.float32))
    if not parts[spec.output.name]:
        raise EmptyDataError(describe("the pair stream yielded no patches", fix="relax max_invalid"))
    norm = spec.norms() if spec.norm is not None else None
    normalized = bool(getattr(stream, "normalize", False)) and norm is not None and len(norm) == len(groups)
    arrays = {g: np.concatenate(parts[g]) for g in groups}
    return PatchSet(arrays, norm, normalized, spec.output.name)


def norm_stats_from_patches(
    ps: PatchSet, spec: ModelSpec, percentiles: tuple[float, float] = (1.0, 99.0)
) -> dict[str, NormStats]:
    """Per-band stats as in the paper: clip at the 1st/99th percentile, subtract the mean, divide by the max.

    ``low``/``high`` are the percentiles of each band (NaN ignored), ``mean`` the mean of
    the clipped values and ``scale`` the largest clipped absolute value. The physics input
    of an anchored model (:data:`~xharm.spec.ANCHOR_GROUP`) gets the output group's mean and
    scale, with its own percentiles as ``low``/``high`` (its training range, read by the
    quality flag), and neither it nor the output is clipped (``clip=False``: a bright target
    or baseline is not cut at the 99.9th percentile, which would make the bounded correction
    absorb the clip).
    """
    out = {}
    for grp in spec.groups:
        g, bands = grp.name, grp.bands
        if g not in ps.arrays:
            raise MissingBandError(
                describe(f"the patches lack group {g!r} of model {spec.name!r}", found=", ".join(ps.groups))
            )
        x = ps.arrays[g]  # may be memory-mapped: read one band at a time (bounded memory)
        if np.shape(x)[-1] != len(bands):
            raise DimensionError(
                describe(f"group {g!r} has the wrong number of bands", expected=bands, found=np.shape(x)[-1])
            )
        stats = []
        for b in range(len(bands)):
            col = np.asarray(x[..., b], dtype=np.float64).ravel()
            low, high = np.nanpercentile(col, percentiles)
            clipped = np.clip(col, low, high, out=col)
            scale = float(np.nanmax(np.abs(clipped)))
            stats.append((float(low), float(high), float(np.nanmean(clipped)), scale if scale > 0 else 1.0))
        low_, high_, mean_, scale_ = (tuple(v) for v in zip(*stats, strict=True))
        out[g] = NormStats(bands, low_, high_, mean_, scale_)
    if spec.anchored:  # "physics + correction" adds in the output's normalized units, unclipped;
        # the physics group keeps its own percentiles: they are its training range (quality flag)
        target = out[spec.output.name]
        out[spec.output.name] = dataclasses.replace(target, clip=False)
        out[ANCHOR_GROUP] = dataclasses.replace(
            target, low=out[ANCHOR_GROUP].low, high=out[ANCHOR_GROUP].high, clip=False
        )
    return out


def save_patches(path: str | Path, ps: PatchSet | Mapping[str, np.ndarray], fmt: str = "npy") -> Path:
    """Write a patch set as ``<group>.npy`` files (``fmt="npy"``) or a Zarr group (``fmt="zarr"``)."""
    if not isinstance(ps, PatchSet):
        ps = PatchSet(dict(ps))
    path = Path(path)
    if fmt == "npy":
        path.mkdir(parents=True, exist_ok=True)
        for g, a in ps.arrays.items():
            np.save(path / f"{g}.npy", np.asarray(a), allow_pickle=False)
    elif fmt == "zarr":
        import zarr

        root = zarr.open_group(str(path), mode="w")
        for g, a in ps.arrays.items():
            a = np.asarray(a)
            arr = root.create_array(g, shape=a.shape, dtype=a.dtype, chunks=(min(64, len(a)), *a.shape[1:]))
            arr[...] = a
        root.attrs["normalized"] = ps.normalized
        root.attrs["target"] = ps.target
        if ps.norm is not None:
            root.attrs["norm"] = {g: s.to_dict() for g, s in ps.norm.items()}
        return path
    else:
        raise ValueError(f"fmt must be 'npy' or 'zarr', not {fmt!r}")
    if ps.norm is not None:
        (path / "norm.json").write_text(json.dumps({g: s.to_dict() for g, s in ps.norm.items()}, indent=1))
    if ps.target != "l8":
        (path / "target.txt").write_text(ps.target)
    return path


def load_patches(
    path: str | Path, groups: Sequence[str] | None = None, target: str | None = None
) -> PatchSet:
    """Read a patch set written by :func:`save_patches` or the patch engine (Zarr or ``.npy``).

    ``groups`` (e.g. ``[g.name for g in spec.groups]``): the groups to read, each must be
    there; default every ``<group>.npy`` of the folder (every array of the Zarr group).
    ``target``: the output group; default what the store says, else ``"l8"``.
    """
    path = Path(path)
    if not path.exists():
        raise ProductNotFoundError(
            describe(f"no patch store at {path}", fix="write one with extract_pairs / save_patches")
        )
    normalized = False
    norm = None
    npy = sorted(p.stem for p in path.glob("*.npy")) if path.is_dir() else []
    if npy and (groups is None or all(g in npy for g in groups)):
        names = list(groups) if groups is not None else npy
        arrays: dict[str, Any] = {
            g: np.load(path / f"{g}.npy", allow_pickle=False, mmap_mode="r") for g in names
        }
        stored_target = (path / "target.txt").read_text().strip() if (path / "target.txt").is_file() else None
    else:
        import zarr

        try:
            root = zarr.open_group(str(path), mode="r")
        except Exception as err:  # zarr raises several types for "not a group"
            raise ProductNotFoundError(
                describe(
                    f"{path} is neither a Zarr group nor a directory of <group>.npy files",
                    expected=", ".join(f"{g}.npy" for g in groups or ("<group>",)) + " or a Zarr group",
                    found=sorted(p.name for p in path.iterdir()) if path.is_dir() else path.name,
                )
            ) from err
        members = sorted(root.array_keys())
        names = list(groups) if groups is not None else members
        missing = [g for g in names if g not in members]
        if missing or not names:
            raise MissingBandError(
                describe(f"Zarr store {path} lacks array(s) {missing}", expected=names, found=members)
            )
        arrays = {g: np.asarray(root[g][...]) for g in names}  # type: ignore[index]
        normalized = bool(root.attrs.get("normalized", False))
        stored_target = root.attrs.get("target")  # type: ignore[assignment]
        if "norm" in root.attrs:
            norm = {g: NormStats.from_dict(d) for g, d in dict(root.attrs["norm"]).items()}  # type: ignore
    if norm is None and (path / "norm.json").is_file():
        norm = {g: NormStats.from_dict(d) for g, d in json.loads((path / "norm.json").read_text()).items()}
    return PatchSet(arrays, norm, normalized, str(target or stored_target or "l8"))


def epoch_order(n: int, seed: int, epoch: int) -> np.ndarray:
    """The permutation of ``n`` patches used in ``epoch`` (depends only on seed and epoch).

    Examples
    --------
    >>> bool((epoch_order(10, 0, 3) == epoch_order(10, 0, 3)).all())
    True
    """
    return np.random.default_rng([seed, epoch]).permutation(n)


def steps_per_epoch(n: int, global_batch: int) -> int:
    """Full global batches in an epoch (the remainder is dropped); raises when there is none."""
    if n < global_batch:
        raise EmptyDataError(
            describe(
                "too few training patches for one global batch",
                expected=f">= {global_batch} patches (devices x local_batch)",
                found=n,
                fix="lower local_batch or devices, or extract more patches",
            )
        )
    return n // global_batch


def batch_at(ps: PatchSet, step: int, global_batch: int, seed: int) -> dict[str, np.ndarray]:
    """The global batch of training step ``step``: arrays per group plus ``"id"`` (patch indices).

    Epoch ``step // steps_per_epoch`` in the order :func:`epoch_order`; the patch index
    ``"id"`` seeds per-patch dropout and augmentation.
    """
    spe = steps_per_epoch(len(ps), global_batch)
    epoch, k = divmod(step, spe)
    idx = np.sort(epoch_order(len(ps), seed, epoch)[k * global_batch : (k + 1) * global_batch])
    batch = {g: np.asarray(a[idx], dtype=np.float32) for g, a in ps.arrays.items()}
    batch["id"] = idx.astype(np.int32)
    return batch
