"""Job: what the long operations of the original return; here they are done on return."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["Job"]


@dataclass(frozen=True, slots=True)
class Job:
    """A finished operation (the original runs it on a server and returns a handle).

    Attributes:
        name: what was done, e.g. ``"add_data"``.
        status: always ``"SUCCESS"``: vstore returns once the work is done and written.
        result: what the operation did (counts, ids).
    """

    name: str
    status: str = "SUCCESS"
    result: dict[str, Any] = field(default_factory=dict)

    def wait_for_done(self, blocking_time_increment: float = 1.0, attempts: int = 20) -> Job:
        """Return at once: the work is already done.

        Returns:
            This job.
        """
        return self

    def sync(self) -> dict[str, Any]:
        """The job's fields as a dict."""
        return {"name": self.name, "status": self.status, "result": dict(self.result)}
