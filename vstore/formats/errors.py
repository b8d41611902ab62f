"""Typed errors of the annotation formats, all :class:`~vstore.errors.FormatError` subclasses.

A reader lets only :class:`~vstore.errors.FormatError` (and these subclasses) escape, so one
``except FormatError`` catches every refused file::

    FormatError                  (ValueError)  a malformed file; names the file and the line
    ├── UnsafePathError                        a file name leaves the dataset folder
    └── UnsafeXMLError                         XML with entity declarations or external entities
"""

from __future__ import annotations

from vstore.errors import FormatError

__all__ = ["UnsafePathError", "UnsafeXMLError"]


class UnsafePathError(FormatError):
    """A file name read from or written to a format would leave its folder.

    Raised for names with a ``..`` segment, an absolute path, a drive letter, a NUL byte,
    or a symlink that resolves outside the folder. Nothing is read or written.
    """

    kind = "unsafe_path"


class UnsafeXMLError(FormatError):
    """An XML file declares entities (e.g. an entity-expansion bomb) or external entities."""

    kind = "unsafe_xml"
