"""What ``vstore add`` reads: paths, folders and globs expanded to files, and each file probed."""

from __future__ import annotations

import glob
import mimetypes
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from vstore.cli.errors import CliError

__all__ = ["Probe", "expand_paths", "file_hash", "probe"]

_GLOB = frozenset("*?[")
_SKIP_DIRS = frozenset({".vstore", ".git", ".hg", ".svn", "__pycache__", ".ipynb_checkpoints"})
_CHUNK = 1 << 20


def _image_extensions() -> frozenset[str]:
    from vstore.formats.imagesize import IMAGE_EXTENSIONS

    return IMAGE_EXTENSIONS


def _walk(root: str, all_files: bool) -> Iterator[str]:
    exts = _image_extensions()
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d not in _SKIP_DIRS and not d.startswith("."))
        for name in sorted(filenames):
            if name.startswith("."):
                continue
            if all_files or os.path.splitext(name)[1].lower() in exts:
                yield os.path.join(dirpath, name)


def expand_paths(paths: Sequence[str], cwd: str, all_files: bool = False) -> tuple[
        list[str], list[str]]:
    """Expand the arguments of ``vstore add``.

    A folder contributes the images below it (every file with ``all_files``), a glob its
    matches (``**`` crosses folders), a file itself; an argument with ``://`` is a URL
    added as it is.

    Returns:
        ``(local files as absolute paths, URLs)``, each in order and without duplicates.

    Raises:
        CliError: an argument that names nothing.
    """
    files: dict[str, None] = {}
    urls: dict[str, None] = {}
    for arg in paths:
        if "://" in arg and not arg.startswith("file://"):
            urls[arg] = None
            continue
        local = arg[len("file://"):] if arg.startswith("file://") else arg
        local = os.path.join(cwd, os.path.expanduser(local))
        matches = sorted(glob.glob(local, recursive=True)) if _GLOB & set(arg) else [local]
        if not matches or not all(os.path.exists(m) for m in matches):
            raise CliError(f"no file or folder matches {arg!r}",
                           "check the path (quote globs so vstore expands them: 'img/**/*.jpg')")
        for m in matches:
            if os.path.isdir(m):
                files.update((os.path.abspath(f), None) for f in _walk(m, all_files))
            else:
                files[os.path.abspath(m)] = None
    return list(files), list(urls)


@dataclass(frozen=True, slots=True)
class Probe:
    """What a local file tells about itself."""

    size: int
    width: int | None
    height: int | None
    content_type: str | None


def probe(path: str) -> Probe:
    """Size, image width and height (when the header is readable) and media type of a file."""
    from vstore.formats.imagesize import image_size

    size = os.path.getsize(path)
    dims = image_size(path)
    ctype = mimetypes.guess_type(path)[0]
    return Probe(size, dims[0] if dims else None, dims[1] if dims else None, ctype)


def file_hash(path: str) -> str:
    """The blake3 hex digest of a file's bytes (the hash vstore uploads use)."""
    import blake3

    h = blake3.blake3()
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            h.update(chunk)
    return str(h.hexdigest())
