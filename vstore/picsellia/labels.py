"""Labels of a dataset version: a name (the id is derived from it)."""

from __future__ import annotations

from dataclasses import dataclass

import blake3

__all__ = ["Label"]


@dataclass(frozen=True, slots=True)
class Label:
    """A label. Labels are identified by name within a version.

    Attributes:
        name: the label's name.
        group_id: the label group, or None (label groups are not modelled).
    """

    name: str
    group_id: str | None = None

    @property
    def id(self) -> str:
        """A stable id derived from the name (equal in every version)."""
        return blake3.blake3(f"label/{self.name}".encode()).hexdigest()[:32]

    def __repr__(self) -> str:
        return f"Label(name={self.name!r})"
