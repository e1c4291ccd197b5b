"""Downstream checks of harmonized series: crop-type mapping (Table V of Sedona et al. 2021).

- :func:`crop_mapping`: per-pixel time-series features, spatial block split, RBF SVM with
  C / gamma by 5-fold CV, producer's / user's accuracy, F1, overall accuracy, confusion
  matrix and map (:class:`CropMapResult`).
- :func:`labels_to_grid`: 10 m labels -> 30 m by block majority.
- :func:`block_split`: spatially disjoint train/test mask.
- :func:`fill_gaps`: per-pixel linear interpolation of cloudy dates.
- :func:`compare_crop_mapping` (crop mapping v2): methods compared on a simulated pair
  series, each scored against area-majority labels on its own grid (:func:`parcel_labels`,
  :func:`area_majority`), for all / parcel-interior / parcel-edge pixels, on the paper's
  calendar and with an extra Sentinel-2-only date (:class:`CropComparison`).

scikit-learn is imported only when :func:`crop_mapping` runs.
"""

from .compare import CALENDARS, CROPS, LANDSAT, PIXEL_SETS, CropComparison, compare_crop_mapping
from .crop import DEFAULT_GRID, CropMapResult, crop_mapping, scores_from_confusion
from .features import fill_gaps
from .labels import block_mode, labels_to_grid
from .rasterize import area_majority, parcel_labels
from .split import TEST, TRAIN, UNUSED, block_ids, block_split

__all__ = [
    "CALENDARS",
    "CROPS",
    "DEFAULT_GRID",
    "LANDSAT",
    "PIXEL_SETS",
    "TEST",
    "TRAIN",
    "UNUSED",
    "CropComparison",
    "CropMapResult",
    "area_majority",
    "block_ids",
    "block_mode",
    "block_split",
    "compare_crop_mapping",
    "crop_mapping",
    "fill_gaps",
    "labels_to_grid",
    "parcel_labels",
    "scores_from_confusion",
]
