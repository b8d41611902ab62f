"""Content-defined chunk boundaries for the prolly tree.

A node ends after an entry when a salted hash of that entry's **key** falls
under a Weibull hazard of the number of entries since the last boundary, or
when the node reaches a hard byte cap. Only keys and entry counts decide
boundaries, so editing a value never moves one (unless the cap triggers), and
the tree is a pure function of its content: any insertion order, batching or
backend gives the same nodes and the same root id.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import blake3

__all__ = ["Chunker", "TreeParams"]

_TWO64 = 1 << 64
_WEIBULL_K = 4.0


@dataclass(frozen=True, slots=True)
class TreeParams:
    """Chunking parameters; part of a tree's identity (same params, same root ids).

    Attributes:
        leaf_target: mean entries per leaf.
        internal_target: mean entries per internal node.
        max_bytes: hard cap on a node's entry bytes.
        salt: mixed into every boundary hash.
    """

    leaf_target: int = 12
    internal_target: int = 64
    max_bytes: int = 64 * 1024
    salt: bytes = b"vstore-prolly-v1"
    _tables: dict[int, list[int]] = field(default_factory=dict, compare=False, repr=False)

    def target(self, level: int) -> int:
        return self.leaf_target if level == 0 else self.internal_target

    def thresholds(self, level: int) -> list[int]:
        """``t[n]``: split after the n-th entry since a boundary when ``hash < t[n]``."""
        lvl = min(level, 1)
        table = self._tables.get(lvl)
        if table is None:
            table = self._tables[lvl] = _weibull_table(self.target(lvl), internal=lvl > 0)
        return table

    def to_dict(self) -> dict[str, Any]:
        return {
            "leaf_target": self.leaf_target,
            "internal_target": self.internal_target,
            "max_bytes": self.max_bytes,
            "salt": self.salt,
        }


def _weibull_table(target: int, *, internal: bool) -> list[int]:
    lam = target / math.gamma(1 + 1 / _WEIBULL_K)
    # Internal nodes need at least two entries so that a level with one node
    # is always the top of the tree (see ProllyTree._finish).
    minimum = max(2 if internal else 1, target // 4)
    table = [0]
    n = 1
    while True:
        if n < minimum:
            p = 0.0
        else:
            p = 1.0 - math.exp(-((n / lam) ** _WEIBULL_K - ((n - 1) / lam) ** _WEIBULL_K))
        if p >= 1.0 - 1e-12:
            table.append(_TWO64)
            break
        table.append(int(p * _TWO64))
        n += 1
    return table


class Chunker:
    """Groups a sorted stream of entries of one tree level into nodes.

    Entries come in as parallel columns (keys, values, byte sizes, boundary
    hashes) so the boundary loop runs without a call per entry.

    Args:
        level: tree level (0 = leaves).
        params: chunking parameters.
        emit: called with ``(keys, values, sizes, hashes)`` of each finished node.
    """

    __slots__ = (
        "_emit", "_salt", "_table", "keys", "max_bytes", "nbytes", "phashes", "psizes", "vals",
    )

    def __init__(
        self,
        level: int,
        params: TreeParams,
        emit: Callable[[list[bytes], list[Any], list[int], list[int]], None],
    ) -> None:
        self._salt = params.salt + bytes((level,))
        self._table = params.thresholds(level)
        self.max_bytes = params.max_bytes
        self._emit = emit
        self.keys: list[bytes] = []
        self.vals: list[Any] = []
        self.psizes: list[int] = []
        self.phashes: list[int] = []
        self.nbytes = 0

    def hash(self, key: bytes) -> int:
        """The boundary hash of ``key`` at this level."""
        return int.from_bytes(blake3.blake3(self._salt + key).digest(8), "big")

    def hashes(self, keys: list[bytes]) -> list[int]:
        """Boundary hashes of several keys."""
        salt = self._salt
        b3 = blake3.blake3
        return [int.from_bytes(b3(salt + k).digest(8), "big") for k in keys]

    def feed(
        self,
        keys: Sequence[bytes],
        vals: Sequence[Any],
        sizes: Sequence[int],
        hashes: Sequence[int],
    ) -> None:
        """Append entries; every node that fills is emitted."""
        table, cap = self._table, self.max_bytes
        last = len(table)
        n, nbytes = len(self.keys), self.nbytes
        start = 0
        for i, h in enumerate(hashes):
            n += 1
            nbytes += sizes[i]
            if nbytes >= cap or (h < table[n] if n < last else True):
                end = i + 1
                self.keys += keys[start:end]
                self.vals += vals[start:end]
                self.psizes += sizes[start:end]
                self.phashes += hashes[start:end]
                start = end
                n = nbytes = 0
                self.cut()
        if start < len(keys):
            self.keys += keys[start:]
            self.vals += vals[start:]
            self.psizes += sizes[start:]
            self.phashes += hashes[start:]
        self.nbytes = nbytes

    def cut(self) -> None:
        """End the current node here (at a boundary, or at the end of a level)."""
        if self.keys:
            out = (self.keys, self.vals, self.psizes, self.phashes)
            self.keys, self.vals, self.psizes, self.phashes, self.nbytes = [], [], [], [], 0
            self._emit(*out)

    @property
    def pending(self) -> int:
        return len(self.keys)
