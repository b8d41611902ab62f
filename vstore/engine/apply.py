"""Applying a sorted batch of edits to a prolly tree, rewriting only what it touches.

Each level is processed in turn: the nodes that hold edited keys are merged
with their edits and re-chunked from their first entry (always a boundary)
until the new boundaries meet an old one; the replaced and new nodes become
the edits of the level above. The result is exactly the tree a build of the
final content gives.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from vstore.engine.chunker import Chunker
from vstore.engine.node import Columns, Node, entry_size
from vstore.engine.objects import WriteBatch

if TYPE_CHECKING:
    from vstore.engine.tree import ProllyTree

__all__ = ["Applier"]


class Applier:
    """Applies sorted edits level by level, rewriting only the touched nodes."""

    def __init__(
        self,
        tree: ProllyTree,
        batch: WriteBatch,
        changes: list[tuple[bytes, bytes | None, bytes | None]] | None = None,
    ) -> None:
        self.tree = tree
        self.batch = batch
        self.changes = changes

    def run(self, root: bytes, edits: list[tuple[bytes, Any]]) -> bytes:
        top = self.tree.load(root)
        self.tree.prefetch_paths(top, [k for k, _ in edits])
        level = 0
        while edits:
            new_nodes, parent_edits, changed = self._level(top, level, edits)
            if not changed:
                return root
            if level == top.level:
                return self._grow(level, new_nodes)
            edits = parent_edits
            level += 1
        return root

    def _log(self, level: int) -> list[tuple[bytes, Any, Any]] | None:
        return self.changes if level == 0 and self.changes is not None else None

    def _collector(self, level: int, out: list[Node]) -> Callable[..., None]:
        def emit(keys: list[bytes], vals: list[Any], sizes: list[int], hashes: list[int]) -> None:
            out.append(self.tree._make(level, keys, vals, self.batch, sizes, hashes))

        return emit

    def _grow(self, level: int, nodes: list[Node]) -> bytes:
        """Make the new top of the tree from the nodes of the old root's level."""
        tree = self.tree
        while True:
            if not nodes:
                return self.tree._make(0, [], [], self.batch).id
            if len(nodes) == 1:
                node = nodes[0]
                # A level with one node is the top; drop single-entry internal roots.
                while node.level and len(node.keys) == 1:
                    node = tree.load(node.vals[0])
                return node.id
            out: list[Node] = []
            ch = Chunker(level + 1, tree.params, self._collector(level + 1, out))
            keys = [n.keys[0] for n in nodes]
            ch.feed(
                keys,
                [(n.id, n.count) for n in nodes],
                [entry_size(1, k, None) for k in keys],
                ch.hashes(keys),
            )
            ch.cut()
            nodes = out
            level += 1

    def _level(
        self, top: Node, level: int, edits: list[tuple[bytes, Any]]
    ) -> tuple[list[Node], list[tuple[bytes, Any]], bool]:
        """Re-chunk the nodes of ``level`` that ``edits`` touch.

        Returns:
            The new nodes (all of them when ``level`` is the top level), the edits
            this makes to the level above, and whether anything changed.
        """
        tree = self.tree
        made: list[Node] = []
        ch = Chunker(level, tree.params, self._collector(level, made))
        parent_edits: list[tuple[bytes, Any]] = []
        changed = False
        i, n = 0, len(edits)
        while i < n:
            path = _seek(tree, top, level, edits[i][0])
            node = path[-1]
            nxt = _next_key(path)
            j = _edits_before(edits, i, nxt)
            merged = _merge(node, edits[i:j], ch, level, self._log(level))
            if merged is None:  # nothing in this node actually changes
                i = j
                continue
            changed = True
            old_firsts = []
            made.clear()
            while True:
                if node.keys:
                    old_firsts.append(node.keys[0])
                i = j
                ch.feed(*merged)
                if nxt is None:
                    ch.cut()
                    break
                if not ch.pending:
                    break  # the new boundaries meet an old one: the rest is unchanged
                _advance(tree, path, level)
                node = path[-1]
                nxt = _next_key(path)
                j = _edits_before(edits, i, nxt)
                merged = _merge(node, edits[i:j], ch, level, self._log(level)) or node.columns(ch)
            region = dict.fromkeys(old_firsts)
            for m in made:
                region[m.keys[0]] = (m.id, m.count)
            parent_edits.extend(sorted(region.items(), key=lambda kv: kv[0]))
            if level == top.level:
                return list(made), [], True
        if level == top.level:
            return [top], [], changed
        return [], parent_edits, changed




def _merge(
    node: Node,
    edits: list[tuple[bytes, Any]],
    ch: Chunker,
    level: int,
    log: list[tuple[bytes, Any, Any]] | None = None,
) -> Columns | None:
    """Merge a node's entries with edits into columns; None if no edit changes anything.

    Effective changes are appended to ``log`` as ``(key, old, new)`` when it is given.
    """
    keys, evals, sizes, hashes = node.columns(ch)
    ok: list[bytes] = []
    ov: list[Any] = []
    os_: list[int] = []
    oh: list[int] = []
    changed = False
    pos = 0
    for k, v in edits:
        x = bisect_left(keys, k, pos)
        if x > pos:
            ok += keys[pos:x]
            ov += evals[pos:x]
            os_ += sizes[pos:x]
            oh += hashes[pos:x]
        pos = x
        present = x < len(keys) and keys[x] == k
        if present:
            pos = x + 1
            if v is None:
                changed = True
                if log is not None:
                    log.append((k, evals[x], None))
                continue
            if v == evals[x]:
                ok.append(k)
                ov.append(v)
                os_.append(sizes[x])
                oh.append(hashes[x])
                continue
        elif v is None:
            continue
        changed = True
        if log is not None:
            log.append((k, evals[x] if present else None, v))
        ok.append(k)
        ov.append(v)
        os_.append(entry_size(level, k, v))
        oh.append(hashes[x] if present else ch.hash(k))
    if not changed:
        return None
    if pos < len(keys):
        ok += keys[pos:]
        ov += evals[pos:]
        os_ += sizes[pos:]
        oh += hashes[pos:]
    return ok, ov, os_, oh


def _edits_before(edits: list[tuple[bytes, Any]], i: int, bound: bytes | None) -> int:
    if bound is None:
        return len(edits)
    j = i
    while j < len(edits) and edits[j][0] < bound:
        j += 1
    return j


def _seek(tree: ProllyTree, top: Node, level: int, key: bytes) -> list[Any]:
    """Path from the root to the node of ``level`` whose range holds ``key``.

    The path alternates: ``[root, idx, child, idx, ..., node]``.
    """
    path: list[Any] = []
    node = top
    while node.level > level:
        i = max(bisect_right(node.keys, key) - 1, 0)
        path += [node, i]
        node = tree.load(node.vals[i])
    path.append(node)
    return path


def _next_key(path: list[Any]) -> bytes | None:
    """First key of the node after ``path[-1]`` on the same level, or None at the end."""
    for d in range(len(path) - 3, -1, -2):
        parent, i = path[d], path[d + 1]
        if i + 1 < len(parent.keys):
            k: bytes = parent.keys[i + 1]
            return k
    return None


def _advance(tree: ProllyTree, path: list[Any], level: int) -> None:
    """Move ``path`` to the next node on the same level (the caller knows there is one)."""
    for d in range(len(path) - 3, -1, -2):
        parent, i = path[d], path[d + 1]
        if i + 1 < len(parent.keys):
            del path[d + 1 :]
            path.append(i + 1)
            node = tree.load(parent.vals[i + 1])
            while node.level > level:
                path += [node, 0]
                node = tree.load(node.vals[0])
            path.append(node)
            return
    raise AssertionError("no next node")
