"""Path safety and atomic writes shared by every format.

File names found inside annotation files (COCO ``file_name``, VOC ``filename``, YOLO image
and label names) are untrusted: :func:`check_name` refuses names that could leave the
dataset folder, and :func:`safe_join` also resolves symlinks before it trusts a path.
Writers go through :func:`write_files`, which checks every target before it writes any,
then writes each one to a temp file and renames it into place.
"""

from __future__ import annotations

import contextlib
import os
import re
import uuid
from collections.abc import Mapping
from pathlib import Path

from vstore.errors import FormatError
from vstore.formats.errors import UnsafePathError

__all__ = [
    "MAX_FILE_BYTES", "atomic_write", "check_name", "read_limited", "read_text", "safe_join",
    "write_files",
]

MAX_FILE_BYTES = 2 << 30
"""Largest annotation file a reader loads into memory (2 GiB)."""

_DRIVE = re.compile(r"^[A-Za-z]:")


def check_name(
    name: object, *, what: str, source: str | os.PathLike[str] | None, line: int | None = None
) -> str:
    """Check that a file name from a format stays inside its folder.

    Args:
        name: the name as found in the file.
        what: what the name is, for the message (e.g. ``"COCO file_name"``).
        source: the file the name was read from (or is written to), for the message.
        line: the line of ``source`` the name is on, if known.

    Returns:
        The name, unchanged.

    Raises:
        FormatError: the name is not a non-empty string.
        UnsafePathError: the name is absolute, has a drive letter, a ``..`` segment or a
            NUL byte.
    """
    src = None if source is None else os.fspath(source)
    if not isinstance(name, str) or not name.strip():
        raise FormatError(f"{what} must be a non-empty string, got {name!r}", src, line)
    reason = None
    if "\x00" in name:
        reason = "contains a NUL byte"
    elif name.startswith(("/", "\\")) or _DRIVE.match(name):
        reason = "is an absolute path"
    elif ".." in re.split(r"[/\\]", name):
        reason = "has a '..' segment"
    if reason is not None:
        raise UnsafePathError(
            f"{what} {name!r} {reason}; names must stay inside the folder", src, line
        )
    return name


def safe_join(
    root: str | os.PathLike[str],
    name: str,
    *,
    what: str,
    source: str | os.PathLike[str] | None,
    line: int | None = None,
) -> Path:
    """Join a checked name to ``root`` and refuse it if a symlink leads outside ``root``.

    Args:
        root: the folder the path must stay in.
        name: a relative name (checked with :func:`check_name`).
        what: what the name is, for the message.
        source: the file the name was read from (or is written to), for the message.
        line: the line of ``source`` the name is on, if known.

    Returns:
        ``root / name``.

    Raises:
        UnsafePathError: the name is unsafe, or resolves outside ``root``.
    """
    check_name(name, what=what, source=source, line=line)
    path = Path(root) / name
    real, real_root = os.path.realpath(path), os.path.realpath(root)
    if real == real_root or os.path.commonpath([real, real_root]) != real_root:
        raise UnsafePathError(
            f"{what} {name!r} resolves to {real}, outside {real_root} (a symlink?)",
            None if source is None else os.fspath(source),
            line,
        )
    return path


def read_limited(path: str | os.PathLike[str]) -> bytes:
    """Read a whole file of at most :data:`MAX_FILE_BYTES`.

    A plain ``read(limit + 1)`` would reserve the whole limit up front for a file of a few
    bytes; this reads what the file's size says, and only grows (doubling) for a file
    longer than that, such as a FIFO or ``/dev/zero``, which is cut at the limit.

    Raises:
        FileNotFoundError: the file does not exist.
        FormatError: the file is larger than the limit.
    """
    src = os.fspath(path)
    with open(src, "rb") as f:
        want = min(os.fstat(f.fileno()).st_size, MAX_FILE_BYTES) + 1
        data = f.read(want)
        while len(data) == want <= MAX_FILE_BYTES:
            want = min(2 * want, MAX_FILE_BYTES + 1)
            data += f.read(want - len(data))
    if len(data) > MAX_FILE_BYTES:
        raise FormatError(f"file is larger than {MAX_FILE_BYTES} bytes", src)
    return data


def read_text(path: str | os.PathLike[str]) -> str:
    """Read a UTF-8 file (a leading BOM is dropped).

    Raises:
        FileNotFoundError: the file does not exist.
        FormatError: the file is too large, or not UTF-8 (names the line).
    """
    src = os.fspath(path)
    data = read_limited(src)
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = data.count(b"\n", 0, e.start) + 1
        raise FormatError(f"not UTF-8 text ({e.reason} at byte {e.start})", src, line) from None


def atomic_write(path: str | os.PathLike[str], data: bytes, *, durable: bool = True) -> None:
    """Write ``data`` to ``path`` through a temp file and a rename, creating parent folders.

    A reader never sees a half-written file: it sees the old file or the new one.

    Args:
        path: the file to write; an existing file (or symlink) there is replaced, not
            written through.
        data: the content.
        durable: fsync the file before the rename, so a power loss cannot leave it empty.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.parent / f".{target.name}.{uuid.uuid4().hex}.tmp"
    try:
        with open(tmp, "xb") as f:
            f.write(data)
            if durable:
                f.flush()
                os.fsync(f.fileno())
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def write_files(
    root: str | os.PathLike[str], files: Mapping[str, bytes], *, what: str
) -> list[Path]:
    """Write several files under ``root``, checking every name before writing any.

    Each file is written atomically (temp file + rename) without a per-file fsync: an export
    of 100k label files would otherwise spend minutes in fsync.

    Args:
        root: the target folder (created if needed).
        files: relative ``/``-separated name → content.
        what: what the names are, for error messages.

    Returns:
        The paths written, in the order of ``files``.

    Raises:
        UnsafePathError: a name leaves ``root`` (directly or through a symlinked folder);
            nothing is written.
    """
    src = os.fspath(root)
    folders: set[str] = set()
    targets = []
    for name in files:
        check_name(name, what=what, source=src)
        folder = name.replace("\\", "/").rpartition("/")[0]
        if folder and folder not in folders:
            # The file itself is replaced by a rename, never followed, so only its folders
            # can lead outside; each folder is resolved once.
            safe_join(root, folder, what=what, source=src)
            folders.add(folder)
        targets.append(Path(root) / name)
    os.makedirs(root, exist_ok=True)
    for target, data in zip(targets, files.values(), strict=True):
        atomic_write(target, data, durable=False)
    return targets
