"""Crop-type mapping on a harmonized time series (Table V of Sedona et al. 2021).

:func:`crop_mapping` trains an RBF-kernel SVM on per-pixel time-series features (every
band on every date) of a 30 m series, with C and gamma chosen by 5-fold cross-validation,
on a spatially disjoint block split, and scores it on the held-out blocks: producer's and
user's accuracy, F1 per class, overall accuracy, confusion matrix and a map.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import xarray as xr

from ..core.cube import validate
from ..core.grid import mask_to_grid
from ..exceptions import DimensionError, EmptyDataError, GridError, UnitsError, describe
from .features import fill_gaps
from .labels import check_labels, labels_to_grid
from .split import TEST, TRAIN, block_split

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["DEFAULT_GRID", "CropMapResult", "crop_mapping", "scores_from_confusion"]

#: Default CV grid. ``gamma`` is in units of ``1 / n_features``: on standardized features
#: sklearn's ``gamma="scale"`` is exactly ``1 / n_features``, so (1/3, 1, 3) brackets it.
DEFAULT_GRID: dict[str, tuple[float, ...]] = {"C": (1.0, 10.0, 100.0), "gamma": (1 / 3, 1.0, 3.0)}


@dataclass(frozen=True, eq=False)
class CropMapResult:
    """Scores and map of one :func:`crop_mapping` run.

    Attributes
    ----------
    table
        One row per class (index: class name): ``code``, ``PA`` (producer's accuracy,
        recall), ``UA`` (user's accuracy, precision), ``F1``, ``support`` (test pixels),
        ``n_train`` (training pixels used). Accuracies are fractions (0..1).
    overall_accuracy
        Correct test pixels / test pixels.
    confusion
        ``(reference, predicted)`` int64 DataArray of test-pixel counts, class names as coords.
    prediction
        ``(y, x)`` map of predicted codes (``nodata`` where no features or not predicted).
    split
        ``(y, x)`` int8 split mask (0 unused, 1 train, 2 test) from :func:`block_split`.
    reference
        ``(y, x)`` labels on the series grid, restricted to the classes mapped.
    best_params
        ``{"C": ..., "gamma": ...}`` chosen by cross-validation (gamma absolute).
    cv_accuracy
        Mean cross-validated accuracy of the chosen parameters.
    kappa
        Cohen's kappa of the test confusion matrix.
    """

    table: pd.DataFrame
    overall_accuracy: float
    confusion: xr.DataArray
    prediction: xr.DataArray
    split: xr.DataArray
    reference: xr.DataArray
    best_params: dict[str, float]
    cv_accuracy: float
    kappa: float
    info: dict[str, Any] = field(default_factory=dict)

    def plot_confusion(self, path: str | Path | None = None, *, normalize: bool = True) -> Figure:
        """Draw the confusion matrix (rows: reference, columns: predicted).

        Parameters
        ----------
        path
            Save the figure there (PNG, PDF, ... by suffix) when given.
        normalize
            Colour by row share (producer's accuracy on the diagonal); cells show counts.

        Returns
        -------
        matplotlib.figure.Figure
            Made without pyplot (no global state; Agg canvas).
        """
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure

        cm = self.confusion.values.astype(float)
        names = [str(n) for n in self.confusion["reference"].values]
        shown = cm / np.maximum(cm.sum(1, keepdims=True), 1) if normalize else cm
        k = len(names)
        fig = Figure(figsize=(1.0 + 0.7 * k, 0.8 + 0.65 * k))
        FigureCanvasAgg(fig)
        ax = fig.add_subplot()
        im = ax.imshow(shown, cmap="Blues", vmin=0, vmax=1 if normalize else None)
        for i in range(k):
            for j in range(k):
                light = shown[i, j] > (0.5 if normalize else shown.max() / 2)
                ax.text(
                    j,
                    i,
                    f"{int(cm[i, j])}",
                    ha="center",
                    va="center",
                    fontsize=8,
                    color="white" if light else "black",
                )
        ax.set_xticks(range(k), names, rotation=45, ha="right")
        ax.set_yticks(range(k), names)
        ax.set_xlabel("predicted")
        ax.set_ylabel("reference")
        ax.set_title(f"OA {self.overall_accuracy:.2%}, kappa {self.kappa:.3f}", fontsize=10)
        fig.colorbar(im, ax=ax, fraction=0.046, label="share of reference row" if normalize else "pixels")
        fig.tight_layout()
        if path is not None:
            fig.savefig(path, dpi=120)
        return fig


def scores_from_confusion(cm: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, float, float]:
    """PA, UA, F1 per class, overall accuracy and kappa from a (reference, predicted) matrix.

    Classes never predicted get UA = 0 (and F1 = 0); classes absent from the reference get
    PA = NaN.

    Examples
    --------
    >>> pa, ua, f1, oa, kappa = scores_from_confusion(np.array([[8, 2], [0, 10]]))
    >>> pa.tolist(), ua.round(3).tolist(), oa
    ([0.8, 1.0], [1.0, 0.833], 0.9)
    """
    cm = np.asarray(cm, dtype=np.float64)
    diag, rows, cols, total = np.diag(cm), cm.sum(1), cm.sum(0), cm.sum()
    pa = np.divide(diag, rows, out=np.full_like(diag, np.nan), where=rows > 0)
    ua = np.divide(diag, cols, out=np.zeros_like(diag), where=cols > 0)
    f1 = np.divide(2 * pa * ua, pa + ua, out=np.zeros_like(diag), where=(pa + ua) > 0)
    oa = float(diag.sum() / total) if total else float("nan")
    pe = float((rows * cols).sum() / total**2) if total else float("nan")
    kappa = (oa - pe) / (1 - pe) if total and pe < 1 else float("nan")
    return pa, ua, f1, oa, kappa


def _class_names(labels: xr.DataArray) -> dict[int, str]:
    raw = labels.attrs.get("classes") or {}
    if isinstance(raw, str):
        import json

        raw = json.loads(raw)
    return {int(k): str(v) for k, v in dict(raw).items()}


def _select(
    present: Sequence[int], names: Mapping[int, str], classes: Iterable[Any] | None, exclude: Iterable[Any]
) -> list[int]:
    by_name = {v: k for k, v in names.items()}

    def code(c: Any) -> int:
        if isinstance(c, str) and not c.isdigit():
            if c not in by_name:
                raise KeyError(
                    describe(
                        f"class {c!r} is not in the labels' class table",
                        expected=sorted(by_name) or "integer codes (labels have no attrs['classes'])",
                        found=c,
                        fix="pass codes or names from labels.attrs['classes']",
                    )
                )
            return by_name[c]
        return int(c)

    chosen = [code(c) for c in classes] if classes is not None else list(present)
    drop = {code(c) for c in exclude}
    return [c for c in dict.fromkeys(chosen) if c not in drop]


def _labels_on(labels: xr.DataArray, series: xr.DataArray, nodata: int, min_purity: float) -> np.ndarray:
    if (
        isinstance(labels, xr.DataArray)
        and set(labels.dims) == {"y", "x"}
        and labels.sizes["y"] == series.sizes["y"]
        and labels.sizes["x"] == series.sizes["x"]
    ):
        same = all(
            k not in labels.coords or np.allclose(labels[k].values, series[k].values) for k in ("y", "x")
        )
        if not same:
            raise GridError(
                describe(
                    "the labels have the series' shape but other coordinates",
                    expected="labels on the series grid, or on a finer grid that nests with it",
                    found="different y/x coordinates",
                    fix="align them (labels.assign_coords(y=series.y, x=series.x) if they match)",
                )
            )
        check_labels(labels)
        return np.asarray(labels.transpose("y", "x").values)
    return np.asarray(labels_to_grid(labels, series.odc.geobox, nodata=nodata, min_purity=min_purity).values)


def _valid_on(series: xr.DataArray, valid: xr.DataArray | None) -> np.ndarray:
    if valid is None and "valid" in series.coords:
        valid = series.coords["valid"]
    shape = (series.sizes["time"], series.sizes["y"], series.sizes["x"])
    if valid is None:
        return np.ones(shape, bool)
    if not isinstance(valid, xr.DataArray) or set(valid.dims) != {"time", "y", "x"}:
        raise DimensionError(
            describe(
                "the valid mask is not a (time, y, x) DataArray",
                expected=("time", "y", "x"),
                found=getattr(valid, "dims", type(valid).__name__),
            )
        )
    if valid.dtype != bool:
        raise UnitsError(describe("the valid mask is not boolean", expected="bool", found=str(valid.dtype)))
    if valid.sizes["y"] != shape[1] or valid.sizes["x"] != shape[2]:
        valid = mask_to_grid(valid, series.odc.geobox)
    if valid.sizes["time"] != shape[0]:
        raise DimensionError(
            describe(
                "the valid mask and the series have different numbers of dates",
                expected=shape[0],
                found=valid.sizes["time"],
                fix="select the same dates in both",
            )
        )
    return np.asarray(valid.transpose("time", "y", "x").values)


def crop_mapping(
    series: xr.DataArray,
    labels: xr.DataArray,
    *,
    valid: xr.DataArray | None = None,
    classes: Iterable[int | str] | None = None,
    exclude: Iterable[int | str] = (),
    nodata: int = 0,
    min_purity: float = 0.0,
    min_valid_fraction: float = 0.5,
    blocks: tuple[int, int] = (8, 8),
    test_fraction: float = 0.3,
    buffer: int = 1,
    max_train_per_class: int = 300,
    param_grid: Mapping[str, Sequence[Any]] | None = None,
    cv: int = 5,
    predict_map: bool = True,
    seed: int = 0,
    n_jobs: int | None = None,
) -> CropMapResult:
    """Map crop types from a (harmonized) time series with an RBF SVM; score on held-out blocks.

    Parameters
    ----------
    series
        Canonical ``(time, band, y, x)`` cube, e.g. 30 m Landsat-like images from
        :func:`xharm.baselines.to_landsat` or an MGAN. Every band of every date is a feature.
        Loaded into memory (this function computes).
    labels
        ``(y, x)`` integer class codes, on the series grid or on a finer grid that nests
        with it (10 m S2 labels for a 30 m series are reduced by block majority,
        :func:`labels_to_grid`). ``attrs["classes"]`` (``{code: name}``) names the classes.
    valid
        Boolean ``(time, y, x)`` clear mask (any nested grid; coarsened strictly); default the
        series' ``valid`` coordinate when it has one, else all clear. NaN values are invalid too.
    classes, exclude
        Classes to map (codes or names; default all codes present except ``nodata``) and
        classes to leave out (e.g. ``("water", "urban", "forest")``). Other pixels are neither
        trained on nor scored.
    nodata
        Label code meaning "no reference".
    min_purity
        With finer labels: keep only pixels whose block has at least this share of one class.
    min_valid_fraction
        Pixels clear on fewer than this share of dates are dropped; the cloudy dates of the
        others are filled by per-pixel linear interpolation in time (:func:`fill_gaps`).
    blocks, test_fraction, buffer
        The spatial split (:func:`block_split`): whole blocks go to the test set; training
        pixels within ``buffer`` pixels of a test pixel are dropped.
    max_train_per_class
        Training pixels are subsampled per class (stratified, seeded) to at most this many:
        an SVM's training cost grows with the square of the samples and the machine may be
        small. Test pixels are never subsampled.
    param_grid
        CV grid: ``{"C": [...], "gamma": [...]}``; ``gamma`` values are multiples of
        ``1 / n_features`` (features are standardized, so ``1`` equals sklearn's
        ``"scale"``). Default :data:`DEFAULT_GRID`: C in {1, 10, 100}, gamma in {1/3, 1, 3}.
    cv
        Folds of the cross-validation. Folds group pixels by block (``StratifiedGroupKFold``)
        when the training set spans at least ``cv`` blocks, else by pixel.
    predict_map
        Also predict every pixel with features (for ``.prediction``); otherwise test pixels only.
    seed
        Seeds the split, the subsampling and the CV folds: same inputs and seed, same result.
    n_jobs
        Parallel CV fits (scikit-learn / joblib); default one process.

    Returns
    -------
    CropMapResult

    Raises
    ------
    DimensionError, UnitsError, GridError, CRSError
        Inputs that are not a canonical series, integer labels or a boolean mask on a nested grid.
    KeyError
        A class name that the labels' class table does not have.
    EmptyDataError
        A class or split with no usable pixels.

    Examples
    --------
    >>> from xharm import simulate
    >>> from xharm.baselines import to_landsat
    >>> ps = simulate.pair_series(n_dates=3, size_km=1.8, seed=0, cloud_cover=0.0)  # doctest: +SKIP
    >>> hls = to_landsat({10: ps.s2_10m, 20: ps.s2_20m}, method="hls", valid=ps.s2_valid)  # doctest: +SKIP
    >>> res = crop_mapping(hls, ps.labels, classes=["wheat", "maize", "grassland"],
    ...                    blocks=(4, 4))  # doctest: +SKIP
    >>> res.table[["PA", "UA", "F1"]], res.overall_accuracy  # doctest: +SKIP
    """
    from sklearn.model_selection import GridSearchCV, StratifiedGroupKFold, StratifiedKFold
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import SVC

    validate(series, what="series")
    names = _class_names(labels)
    lab = _labels_on(labels, series, nodata, min_purity)
    ok_t = _valid_on(series, valid)
    ny, nx = lab.shape
    t, b = series.sizes["time"], series.sizes["band"]

    present = sorted(int(c) for c in np.unique(lab) if c != nodata)
    codes = _select(present, names, classes, exclude)
    if not codes:
        raise EmptyDataError(
            describe(
                "no class left to map",
                expected="at least two classes",
                found=f"present {present}, exclude {list(exclude)}",
            )
        )
    split = block_split(series, blocks=blocks, test_fraction=test_fraction, buffer=buffer, seed=seed)

    # features: (pixels, time, band), cloudy dates filled in time
    values = np.asarray(series.transpose("y", "x", "time", "band").values, dtype=np.float32)
    values = values.reshape(ny * nx, t, b)
    ok = ok_t.transpose(1, 2, 0).reshape(ny * nx, t) & np.isfinite(values).all(-1)
    usable = ok.mean(1) >= min_valid_fraction
    usable &= ok.any(1)
    days = (series["time"].values - series["time"].values[0]) / np.timedelta64(1, "D")
    feats = np.zeros((ny * nx, t * b), np.float32)
    feats[usable] = fill_gaps(np.nan_to_num(values[usable]), ok[usable], days).reshape(-1, t * b)

    flat_lab, flat_split, flat_block = lab.ravel(), split.values.ravel(), split["block_id"].values.ravel()
    in_class = np.isin(flat_lab, codes) & usable
    rng = np.random.default_rng(seed)
    train_idx, n_train, dropped = [], {}, {}
    for c in codes:
        idx = np.flatnonzero(in_class & (flat_split == TRAIN) & (flat_lab == c))
        if idx.size < cv:
            dropped[c] = int(idx.size)
            continue
        if idx.size > max_train_per_class:
            idx = np.sort(rng.choice(idx, max_train_per_class, replace=False))
        train_idx.append(idx)
        n_train[c] = int(idx.size)
    if dropped:
        warnings.warn(
            f"classes with fewer than cv={cv} training pixels left out: "
            + ", ".join(f"{names.get(c, c)} ({n})" for c, n in dropped.items()),
            stacklevel=2,
        )
    codes = [c for c in codes if c in n_train]
    if len(codes) < 2:
        raise EmptyDataError(
            describe(
                "fewer than two classes have training pixels",
                expected=">= 2 classes in the training blocks",
                found=n_train or "none",
                fix="use more blocks, a smaller test_fraction, a smaller buffer, or other classes",
            )
        )
    tr = np.concatenate(train_idx)
    te = np.flatnonzero(np.isin(flat_lab, codes) & usable & (flat_split == TEST))
    if te.size == 0:
        raise EmptyDataError(
            describe(
                "no test pixel of the mapped classes",
                expected="> 0",
                found=0,
                fix="use more blocks or a larger test_fraction",
            )
        )

    grid = dict(param_grid or DEFAULT_GRID)
    scale = 1.0 / feats.shape[1]
    search_grid = {
        "svm__C": [float(c) for c in grid.get("C", DEFAULT_GRID["C"])],
        "svm__gamma": [float(g) * scale for g in grid.get("gamma", DEFAULT_GRID["gamma"])],
    }
    groups: np.ndarray | None = flat_block[tr]
    if len(np.unique(flat_block[tr])) >= cv:
        splitter: Any = StratifiedGroupKFold(n_splits=cv, shuffle=True, random_state=seed)
    else:
        splitter, groups = StratifiedKFold(n_splits=cv, shuffle=True, random_state=seed), None
    model = Pipeline([("scale", StandardScaler()), ("svm", SVC(kernel="rbf"))])
    search = GridSearchCV(model, search_grid, cv=splitter, scoring="accuracy", n_jobs=n_jobs, refit=True)
    with warnings.catch_warnings():
        # a fold may lack a rare class; sklearn warns, the score is still defined
        warnings.filterwarnings("ignore", message=".*least populated class.*")
        search.fit(feats[tr], flat_lab[tr], groups=groups)

    pred_idx = np.flatnonzero(usable) if predict_map else te
    pred_flat = np.full(ny * nx, nodata, dtype=lab.dtype)
    pred_flat[pred_idx] = search.predict(feats[pred_idx])

    k = len(codes)
    pos = {c: i for i, c in enumerate(codes)}
    ref_i = np.array([pos[c] for c in flat_lab[te]])
    pred_codes = pred_flat[te]
    cm = np.zeros((k, k), np.int64)
    np.add.at(cm, (ref_i, np.array([pos[int(c)] for c in pred_codes])), 1)
    pa, ua, f1, oa, kappa = scores_from_confusion(cm)

    cls = [names.get(c, str(c)) for c in codes]
    table = pd.DataFrame(
        {
            "code": codes,
            "PA": pa,
            "UA": ua,
            "F1": f1,
            "support": cm.sum(1),
            "n_train": [n_train[c] for c in codes],
        },
        index=pd.Index(cls, name="class"),
    )
    confusion = xr.DataArray(
        cm,
        dims=("reference", "predicted"),
        coords={"reference": cls, "predicted": cls},
        name="confusion",
        attrs={"codes": codes},
    )
    yx = {k_: series.coords[k_] for k_ in ("y", "x")}
    reference = xr.DataArray(
        np.where(np.isin(lab, codes), lab, nodata).astype(lab.dtype),
        dims=("y", "x"),
        coords=yx,
        name="reference",
        attrs={"classes": {str(c): names.get(c, str(c)) for c in codes}},
    )
    prediction = xr.DataArray(
        pred_flat.reshape(ny, nx),
        dims=("y", "x"),
        coords=yx,
        name="prediction",
        attrs={**reference.attrs, "nodata": nodata},
    )
    if "spatial_ref" in series.coords:
        reference = reference.assign_coords(spatial_ref=series.coords["spatial_ref"])
        prediction = prediction.assign_coords(spatial_ref=series.coords["spatial_ref"])
    best = search.best_params_
    info = {
        "n_train": int(tr.size),
        "n_test": int(te.size),
        "n_features": int(feats.shape[1]),
        "dropped_classes": {names.get(c, str(c)): n for c, n in dropped.items()},
        "cv": type(splitter).__name__,
        "usable_fraction": float(usable.mean()),
        "filled_fraction": float((~ok[usable]).mean()) if usable.any() else 0.0,
        "seed": int(seed),
    }
    return CropMapResult(
        table=table,
        overall_accuracy=oa,
        confusion=confusion,
        prediction=prediction,
        split=split,
        reference=reference,
        best_params={"C": float(best["svm__C"]), "gamma": float(best["svm__gamma"])},
        cv_accuracy=float(search.best_score_),
        kappa=float(kappa),
        info=info,
    )
