"""Random splits of a version's annotated assets, reproducible with a seed.

As in the original: only assets with at least one annotation take part; they are shuffled
(by a private ``random.Random(random_seed)``, so the global generator is left alone) in the
version's own order, then cut contiguously at ``int(cumulative ratio * n)`` with the ratios
normalised by their sum; each part's label repartition counts the shapes of each asset's
newest annotation (rectangles, classifications, points, polygons, lines, keypoints), by
label name in first-seen order.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from vstore.errors import InvalidArgumentError, NoDataError, WrongTypeError
from vstore.picsellia.asset import Asset, MultiAsset
from vstore.picsellia.frames import paused_gc
from vstore.picsellia.index import Entry, asset_index
from vstore.picsellia.labels import Label

if TYPE_CHECKING:
    from vstore.datasets.version import DatasetVersion

__all__ = ["split_into_multi_assets", "train_test_split", "train_test_val_split"]

_COUNTED = frozenset({"rectangle", "classification", "point", "polygon", "line", "keypoints"})
_SEEDS = (type(None), int, float, str, bytes, bytearray)


def _ratios(ratios: object) -> list[float]:
    if isinstance(ratios, (str, bytes)) or not isinstance(ratios, Sequence):
        raise WrongTypeError(f"ratios must be a list of numbers, not {ratios!r}")
    if len(ratios) < 2:
        raise InvalidArgumentError("Please give at least two proportions")
    out = []
    for r in ratios:
        if isinstance(r, bool) or not isinstance(r, (int, float)) or not r >= 0:
            raise InvalidArgumentError(f"every ratio must be a number >= 0, got {r!r}")
        out.append(float(r))
    total = sum(out)
    if total <= 0:
        raise InvalidArgumentError("the ratios must not all be 0")
    return [r / total for r in out]


def repartition(entries: Sequence[Entry]) -> dict[str, int]:
    """Shapes per label over each entry's newest annotation, in first-seen order."""
    counts: dict[str, int] = {}
    for entry in entries:
        newest = entry.newest
        if newest is None:
            continue
        for kind, label, _text in newest.shapes:
            if kind in _COUNTED and label is not None:
                counts[label] = counts.get(label, 0) + 1
    return counts


def split_into_multi_assets(version: DatasetVersion, ratios: Sequence[float],
                            random_seed: Any = None
                            ) -> tuple[list[MultiAsset], list[dict[str, int]], list[Label]]:
    """See ``DatasetVersion.split_into_multi_assets``."""
    norm = _ratios(ratios)
    if not isinstance(random_seed, _SEEDS):
        raise WrongTypeError(f"random_seed must be None, an int, a float, a str or bytes, not "
                             f"{type(random_seed).__name__}")
    index = asset_index(version)
    with paused_gc():
        return _split(version, index.entries, norm, random_seed)


def _split(version: DatasetVersion, entries: list[Entry], norm: list[float], random_seed: Any
           ) -> tuple[list[MultiAsset], list[dict[str, int]], list[Label]]:
    from vstore.picsellia.version_meta import list_labels

    items = [e for e in entries if e.annotations]
    if not items:
        raise NoDataError("No asset with annotation found in this dataset version")
    random.Random(random_seed).shuffle(items)
    n = len(items)
    cuts = [0]
    running = 0.0
    for r in norm:
        running += r
        cuts.append(int(running * n))
    cuts[-1] = n  # float rounding never loses the last items
    parts = [items[cuts[i]:cuts[i + 1]] for i in range(len(norm))]
    for i, part in enumerate(parts):
        if not part:
            raise NoDataError(f"split {i} would be empty ({n} annotated assets, ratios {norm})")
    multis = [MultiAsset([Asset(version, e) for e in part]) for part in parts]
    return multis, [repartition(p) for p in parts], list_labels(version)


def _xy(counts: dict[str, int]) -> dict[str, list[Any]]:
    return {"x": list(counts), "y": list(counts.values())}


def train_test_split(version: DatasetVersion, prop: float = 0.8, random_seed: Any = None
                     ) -> tuple[MultiAsset, MultiAsset, dict[str, list[Any]],
                                dict[str, list[Any]], list[Label]]:
    """See ``DatasetVersion.train_test_split``."""
    if isinstance(prop, bool) or not isinstance(prop, (int, float)) or not 0 <= prop <= 1:
        raise InvalidArgumentError(f"prop must be a number in [0, 1], got {prop!r}")
    (train, test), (rep_train, rep_test), labels = split_into_multi_assets(
        version, [prop, 1 - prop], random_seed)
    return train, test, _xy(rep_train), _xy(rep_test), labels


def train_test_val_split(version: DatasetVersion, ratios: Sequence[float] | None = None,
                         random_seed: Any = None
                         ) -> tuple[MultiAsset, MultiAsset, MultiAsset, dict[str, list[Any]],
                                    dict[str, list[Any]], dict[str, list[Any]], list[Label]]:
    """See ``DatasetVersion.train_test_val_split``."""
    wanted = [0.64, 0.16, 0.20] if ratios is None else ratios
    if isinstance(wanted, (str, bytes)) or not isinstance(wanted, Sequence) or len(wanted) != 3:
        raise InvalidArgumentError(f"ratios must hold exactly 3 numbers, got {ratios!r}")
    (train, test, val), (r1, r2, r3), labels = split_into_multi_assets(
        version, wanted, random_seed)
    return train, test, val, _xy(r1), _xy(r2), _xy(r3), labels
