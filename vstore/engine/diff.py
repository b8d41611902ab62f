"""Diff and three-way merge of prolly trees, at a cost that follows the changes.

Both walks compare subtree ids and skip equal subtrees without reading them,
so two versions that differ in a few records are compared by reading a few
nodes per level, whatever their size. Identical roots cost nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from vstore.engine.objects import WriteBatch
from vstore.engine.tree import Node, ProllyTree
from vstore.errors import MergeConflictError

__all__ = ["CONFLICT", "MergeResult", "diff", "merge", "merge_edits"]


class _Conflict:
    def __repr__(self) -> str:
        return "CONFLICT"


#: Returned by a collision callback to leave a record in conflict (ours is kept).
CONFLICT: Any = _Conflict()

Collision = Callable[[bytes, bytes | None, bytes | None, bytes | None], Any]


@dataclass
class MergeResult:
    """Outcome of :func:`merge`.

    Attributes:
        root: the merged tree.
        conflicts: keys the collision callback left in conflict (ours kept).
        applied: how many of theirs' changes were applied to ours.
    """

    root: bytes
    conflicts: list[bytes] = field(default_factory=list)
    applied: int = 0


# A stack item: (first_key, level, payload). level -1 is a record whose payload
# is its raw value; level >= 0 is a subtree whose payload is its node id.
_Item = tuple[bytes, int, Any]


def _push_node(stack: list[_Item], node: Node) -> None:
    if node.level == 0:
        stack.extend((node.keys[i], -1, node.vals[i]) for i in range(len(node.keys) - 1, -1, -1))
    else:
        lvl = node.level - 1
        stack.extend((node.keys[i], lvl, node.vals[i]) for i in range(len(node.keys) - 1, -1, -1))


def diff(
    tree: ProllyTree, a: bytes, b: bytes, *, resolve: bool = True
) -> Iterator[tuple[bytes, bytes | None, bytes | None]]:
    """Yield ``(key, old, new)`` for every key whose value differs from ``a`` to ``b``.

    ``old`` is None for an added key, ``new`` is None for a deleted one. Keys come
    in increasing order.

    Args:
        tree: the tree operations (and their object store).
        a: the old root.
        b: the new root.
        resolve: return spilled values as bytes (otherwise as stored).
    """
    if a == b:
        return
    sa: list[_Item] = []
    sb: list[_Item] = []
    _push_node(sa, tree.load(a))
    _push_node(sb, tree.load(b))
    res = tree._resolve if resolve else (lambda v: v)
    while sa and sb:
        ka, la, pa = sa[-1]
        kb, lb, pb = sb[-1]
        if la >= 0 and lb >= 0 and pa == pb:
            sa.pop()
            sb.pop()
            continue
        if ka < kb:
            if la < 0:
                sa.pop()
                yield ka, res(pa), None
            else:
                _push_node(sa, tree.load(sa.pop()[2]))
        elif kb < ka:
            if lb < 0:
                sb.pop()
                yield kb, None, res(pb)
            else:
                _push_node(sb, tree.load(sb.pop()[2]))
        elif la < 0 and lb < 0:
            sa.pop()
            sb.pop()
            if pa != pb:
                yield ka, res(pa), res(pb)
        elif la == lb:
            na, nb = tree.load(sa.pop()[2]), tree.load(sb.pop()[2])
            if na.level and nb.level:
                # Children present on one side only will be read next: fetch them together.
                ca, cb = set(na.vals), set(nb.vals)
                only = [c for c in na.vals if c not in cb] + [c for c in nb.vals if c not in ca]
                tree.prefetch(only)
            _push_node(sa, na)
            _push_node(sb, nb)
        elif la > lb:
            _push_node(sa, tree.load(sa.pop()[2]))
        else:
            _push_node(sb, tree.load(sb.pop()[2]))
    for side, stack in ((0, sa), (1, sb)):
        while stack:
            k, lvl, p = stack.pop()
            if lvl >= 0:
                _push_node(stack, tree.load(p))
            elif side == 0:
                yield k, res(p), None
            else:
                yield k, None, res(p)


def merge(
    tree: ProllyTree,
    base: bytes,
    ours: bytes,
    theirs: bytes,
    on_collision: Collision | None = None,
    batch: WriteBatch | None = None,
) -> MergeResult:
    """Three-way merge: apply the changes from ``base`` to ``theirs`` onto ``ours``.

    A key changed on one side only takes that side's value. A key changed on
    both sides to the same value is kept. A key changed on both sides
    differently is a collision: ``on_collision(key, base, ours, theirs)``
    returns the merged value (bytes), None to delete, or :data:`CONFLICT`.

    Raises:
        MergeConflictError: collisions and no callback; nothing is written.
    """
    if theirs == base or ours == theirs:
        return MergeResult(ours)
    if ours == base:
        return MergeResult(theirs, applied=sum(1 for _ in diff(tree, base, theirs, resolve=False)))
    edits, conflicts = merge_edits(
        diff(tree, base, ours, resolve=False),
        diff(tree, base, theirs, resolve=False),
        tree._resolve,
        on_collision,
    )
    root = tree.apply(ours, edits, batch) if edits else ours
    return MergeResult(root, conflicts, len(edits))


Change = tuple[bytes, Any, Any]


def merge_edits(
    mine: Iterator[Change],
    theirs: Iterator[Change],
    resolve: Callable[[Any], bytes],
    on_collision: Collision | None,
) -> tuple[list[tuple[bytes, bytes | None]], list[bytes]]:
    """The edits that bring ``theirs``' changes onto ours, and the keys left in conflict.

    ``mine`` and ``theirs`` are the key-ordered changes of each side since the base,
    values as stored; ``resolve`` turns a stored value into bytes.

    Raises:
        MergeConflictError: collisions and no callback.
    """
    edits: list[tuple[bytes, bytes | None]] = []
    conflicts: list[bytes] = []
    collisions: list[tuple[bytes, Any, Any, Any]] = []
    cur = next(mine, None)
    for key, old, new in theirs:
        while cur is not None and cur[0] < key:
            cur = next(mine, None)
        if cur is None or cur[0] != key:
            edits.append((key, None if new is None else resolve(new)))
        elif cur[2] != new:
            collisions.append((key, old, cur[2], new))
    if collisions and on_collision is None:
        raise MergeConflictError([c[0] for c in collisions])
    for key, old, mine_v, new in collisions:
        assert on_collision is not None
        r = on_collision(key, *(None if v is None else resolve(v) for v in (old, mine_v, new)))
        if r is CONFLICT:
            conflicts.append(key)
        else:
            edits.append((key, r))
    edits.sort(key=lambda e: e[0])
    return edits, conflicts
