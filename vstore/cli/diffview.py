"""The data of ``vstore diff`` and its text, Markdown and JSON forms."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from vstore.cli.output import short
from vstore.cli.views import first_source, frame_labels, version_json

if TYPE_CHECKING:
    from vstore.cli.address import Resolved
    from vstore.cli.context import Env

__all__ = ["KINDS", "Change", "DiffData", "compute", "markdown", "text_lines"]

KINDS = ("added", "modified", "deleted")
_SIGN = {"added": "+", "modified": "~", "deleted": "-"}
_COLOR = {"added": "green", "modified": "yellow", "deleted": "red"}


@dataclass
class Change:
    """One changed frame."""

    id: str
    kind: str
    old: dict[str, Any] | None
    new: dict[str, Any] | None

    @property
    def record(self) -> dict[str, Any]:
        rec = self.new if self.new is not None else self.old
        assert rec is not None
        return rec

    @property
    def uri(self) -> str | None:
        uri = first_source(self.record).get("uri")
        return None if uri is None else str(uri)

    def label_deltas(self) -> dict[str, int]:
        """Per label, annotations gained (positive) or lost (negative)."""
        before, after = frame_labels(self.old), frame_labels(self.new)
        out = {k: after[k] - before[k] for k in sorted(before.keys() | after.keys())}
        return {k: v for k, v in out.items() if v}

    def fields(self) -> list[str]:
        """Top-level record fields that differ (for modified frames)."""
        if self.old is None or self.new is None:
            return []
        keys = sorted(self.old.keys() | self.new.keys())
        return [k for k in keys if self.old.get(k) != self.new.get(k)]

    def json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"id": self.id, "uri": self.uri, "labels": self.label_deltas()}
        if self.kind == "modified":
            out["fields"] = self.fields()
        return out


@dataclass
class DiffData:
    """Everything a diff shows."""

    old: Resolved | None
    new: Resolved
    changes: list[Change] = field(default_factory=list)

    def by_kind(self, kind: str) -> list[Change]:
        return [c for c in self.changes if c.kind == kind]

    @property
    def counts(self) -> dict[str, int]:
        return {k: len(self.by_kind(k)) for k in KINDS}

    @property
    def labels(self) -> dict[str, dict[str, int]]:
        out: dict[str, dict[str, int]] = {}
        for c in self.changes:
            for label, delta in c.label_deltas().items():
                row = out.setdefault(label, {"added": 0, "removed": 0})
                row["added" if delta > 0 else "removed"] += abs(delta)
        return dict(sorted(out.items()))

    def summary(self) -> str:
        c = self.counts
        return f"{c['added']:,} added, {c['modified']:,} modified, {c['deleted']:,} deleted"

    def title(self) -> str:
        old = self.old.label if self.old is not None else "(empty)"
        return f"{old} -> {self.new.label}"

    def json(self) -> dict[str, Any]:
        return {
            "old": version_json(self.old) if self.old is not None else None,
            "new": version_json(self.new),
            "counts": self.counts,
            "labels": self.labels,
            **{k: [c.json() for c in self.by_kind(k)] for k in KINDS},
        }


def compute(env: Env, old: Resolved | None, new: Resolved) -> DiffData:
    """Diff two resolved versions (``old`` None: the empty version)."""
    import vstore
    from vstore.engine import EMPTY_ROOT

    fd = vstore.FrameDiff(new.store.repo, old.tree if old is not None else EMPTY_ROOT, new.tree)
    data = DiffData(old, new)
    with env.phase("diff", unit="frame") as bar:
        for ch in fd:
            data.changes.append(Change(ch.frame_id, ch.kind, ch.old, ch.new))
            bar.update()
    return data


def _deltas(d: dict[str, int]) -> str:
    return ", ".join(f"{k} {v:+d}" for k, v in d.items())


def text_lines(env: Env, data: DiffData, stat: bool, limit: int | None) -> Iterator[str]:
    """The human-readable diff."""
    yield env.style(f"diff {data.title()}", bold=True)
    if not stat:
        for kind in KINDS:
            group = data.by_kind(kind)
            if not group:
                continue
            yield ""
            yield env.style(f"{kind} ({len(group):,})", fg=_COLOR[kind], bold=True)
            for c in group[:limit]:
                extra = "  " + ", ".join(c.fields()) if kind == "modified" else ""
                labels = _deltas(c.label_deltas())
                line = f"  {_SIGN[kind]} {c.id}  {c.uri or '-'}{extra}"
                yield env.style(line, fg=_COLOR[kind]) + (f"  {labels}" if labels else "")
            if limit is not None and len(group) > limit:
                yield f"  ... and {len(group) - limit:,} more"
    table = data.labels
    if table:
        yield ""
        yield env.style("labels", bold=True)
        width = max(len(k) for k in table)
        for name, row in table.items():
            yield (f"  {name:<{width}}  " + env.style(f"+{row['added']:<6,}", fg="green")
                   + env.style(f"-{row['removed']:,}", fg="red"))
    yield ""
    yield data.summary()


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def markdown(data: DiffData, stat: bool, limit: int | None) -> str:
    """The diff as GitHub-flavoured Markdown (for CI comments)."""
    old = f"`{data.old.label}`" if data.old is not None else "(empty)"
    out = [f"### vstore diff {old} → `{data.new.label}`", "", f"**{data.summary()}**", ""]
    if data.labels:
        out += ["| label | added | removed |", "|---|---:|---:|"]
        out += [f"| {_cell(k)} | {v['added']} | {v['removed']} |" for k, v in data.labels.items()]
        out.append("")
    if not stat:
        for kind in KINDS:
            group = data.by_kind(kind)
            if not group:
                continue
            out += [f"<details><summary>{kind.capitalize()} ({len(group):,})</summary>", "",
                    "| frame | source | labels |", "|---|---|---|"]
            for c in group[:limit]:
                labels = _cell(_deltas(c.label_deltas())) or "-"
                out.append(f"| `{short(c.id, 16)}` | {_cell(c.uri or '-')} | {labels} |")
            if limit is not None and len(group) > limit:
                out.append(f"| … | {len(group) - limit:,} more | |")
            out += ["", "</details>", ""]
    return "\n".join(out).rstrip() + "\n"
