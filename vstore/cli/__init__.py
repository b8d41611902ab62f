"""The ``vstore`` command line: git-like porcelain over datasets, versions and frames.

Run ``vstore --help`` (or ``python -m vstore.cli --help``). The commands live in the
``cmd_*`` modules; the reference in docs/cli.md is generated from them by
``vstore.cli._docgen``.
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["main"]


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI with ``argv`` (default: ``sys.argv[1:]``); return the exit code."""
    from vstore.cli.app import cli

    code: int = cli.main(list(argv) if argv is not None else None, prog_name="vstore",
                         standalone_mode=False)
    return code
