"""CLI configuration: two files, environment overrides, and where each value came from.

Levels, strongest first::

    command line   --store URL (core.url only)
    environment    VSTORE_URL, VSTORE_DATASET, ... (see KEYS)
    repository     <repo>/.vstore/config          (found from the working directory upward)
    user           $XDG_CONFIG_HOME/vstore/config (else ~/.config/vstore/config)
    default

Both files use git's INI layout: ``core.url`` is ``url`` in ``[core]``, and
``remote.origin.url`` is ``url`` in ``[remote "origin"]``.
"""

from __future__ import annotations

import configparser
import os
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "KEYS",
    "REPO_DIR",
    "Config",
    "ConfigKeyError",
    "Key",
    "Setting",
    "find_repository",
    "parse_duration",
    "user_config_path",
]

REPO_DIR = ".vstore"
_FILE = "config"
_SECRET_WORDS = ("key", "secret", "token", "password", "credential", "sas", "connection_string")


@dataclass(frozen=True, slots=True)
class Key:
    """A known configuration key.

    Attributes:
        name: dotted name, e.g. ``core.url``.
        env: the environment variable that overrides it, if any.
        default: the value when nothing sets it.
        help: one line for ``config list`` and the docs.
        choices: the allowed values, if restricted.
    """

    name: str
    env: str | None
    default: str | None
    help: str
    choices: tuple[str, ...] = ()


KEYS: dict[str, Key] = {
    k.name: k
    for k in (
        Key("core.url", "VSTORE_URL", None, "the store: a local path (LMDB) or an fsspec URL"),
        Key("core.dataset", "VSTORE_DATASET", None, "the dataset an address without one uses"),
        Key("core.single_writer", "VSTORE_SINGLE_WRITER", "false",
            "open stores without atomic creates (one writer only)", ("true", "false")),
        Key("core.progress", "VSTORE_PROGRESS", "auto",
            "progress bars: auto (on a terminal), always or never", ("auto", "always", "never")),
        Key("core.color", "VSTORE_COLOR", "auto",
            "colour: auto (on a terminal), always or never",
            ("auto", "always", "never")),
        Key("gc.grace", "VSTORE_GC_GRACE", "1d",
            "gc keeps unreachable objects younger than this (12h, 1d, 2w)"),
        Key("add.upload_to", "VSTORE_ADD_UPLOAD_TO", None,
            "where `vstore add` uploads local files by default"),
    )
}
#: Patterns of keys with a free part: storage options of the store and of each remote.
_PATTERNS = (
    (re.compile(r"^storage\.[A-Za-z0-9_]+$"), "a storage option of the store (fsspec)"),
    (re.compile(r"^remote\.[A-Za-z0-9_.-]+\.url$"), "the URL of a named remote store"),
    (re.compile(r"^remote\.[A-Za-z0-9_.-]+\.[A-Za-z0-9_]+$"), "a storage option of a remote"),
)


class ConfigKeyError(ValueError):
    """A configuration key that vstore does not know, or a value it does not accept."""


@dataclass(frozen=True, slots=True)
class Setting:
    """A resolved value and where it came from.

    Attributes:
        key: dotted name.
        value: the value (a string, as written).
        origin: ``command line``, ``env:NAME``, ``file:PATH`` or ``default``.
        level: ``command``, ``env``, ``repository``, ``user`` or ``default``.
    """

    key: str
    value: str
    origin: str
    level: str

    @property
    def shown(self) -> str:
        """The value, masked if the key names a secret."""
        return mask(self.key, self.value)


def mask(key: str, value: str) -> str:
    """``value``, or ``****`` when ``key`` looks like it holds a secret."""
    last = key.rsplit(".", 1)[-1].lower()
    return "****" if any(w in last for w in _SECRET_WORDS) else value


def check_key(key: str) -> str:
    """Return ``key`` if vstore knows it.

    Raises:
        ConfigKeyError: an unknown key.
    """
    if key in KEYS or any(p.match(key) for p, _ in _PATTERNS):
        return key
    raise ConfigKeyError(f"unknown configuration key {key!r}")


def check_value(key: str, value: str) -> str:
    """Return ``value`` if ``key`` accepts it.

    Raises:
        ConfigKeyError: a value outside the key's choices, or a bad duration.
    """
    known = KEYS.get(key)
    if known is not None and known.choices and value not in known.choices:
        raise ConfigKeyError(f"{key} must be one of {', '.join(known.choices)}, not {value!r}")
    if key == "gc.grace":
        parse_duration(value)
    return value


def describe(key: str) -> str:
    """One line describing a key."""
    if key in KEYS:
        return KEYS[key].help
    return next((text for p, text in _PATTERNS if p.match(key)), "")


def parse_duration(text: str) -> float:
    """Seconds in ``30``, ``30s``, ``15m``, ``12h``, ``1d`` or ``2w``.

    Raises:
        ConfigKeyError: not a duration.
    """
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhdw]?)\s*", text)
    if m is None:
        raise ConfigKeyError(f"{text!r} is not a duration (e.g. 30s, 15m, 12h, 1d, 2w)")
    unit = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}[m.group(2)]
    return float(m.group(1)) * unit


def _split(key: str) -> tuple[str, str]:
    """``remote.origin.url`` -> (``remote "origin"``, ``url``); ``core.url`` -> (core, url)."""
    parts = key.split(".")
    if len(parts) == 2:
        return parts[0], parts[1]
    return f'{parts[0]} "{".".join(parts[1:-1])}"', parts[-1]


def _join(section: str, option: str) -> str:
    m = re.fullmatch(r'(\S+) "(.*)"', section)
    return f"{m.group(1)}.{m.group(2)}.{option}" if m else f"{section}.{option}"


def user_config_path() -> Path:
    """The user-level file: ``$XDG_CONFIG_HOME/vstore/config``, else ``~/.config/...``."""
    base = os.environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    return Path(base) / "vstore" / _FILE


def find_repository(start: Path) -> Path | None:
    """The nearest directory at or above ``start`` holding a ``.vstore`` repository."""
    here = start.resolve()
    for d in (here, *here.parents):
        marker = d / REPO_DIR
        if (marker / _FILE).is_file() or (marker / "data.mdb").is_file():
            return d
    return None


class ConfigFile:
    """One INI file of settings (absent until written)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._parser = configparser.ConfigParser(interpolation=None, strict=False)
        self._parser.optionxform = str  # type: ignore[assignment,method-assign]
        if path.is_file():
            self._parser.read(path, encoding="utf-8")

    def items(self) -> Iterator[tuple[str, str]]:
        """Every ``(dotted key, value)`` in the file."""
        for section in self._parser.sections():
            for option, value in self._parser.items(section):
                yield _join(section, option), value

    def get(self, key: str) -> str | None:
        section, option = _split(key)
        if self._parser.has_option(section, option):
            return self._parser.get(section, option)
        return None

    def set(self, key: str, value: str) -> None:
        section, option = _split(key)
        if not self._parser.has_section(section):
            self._parser.add_section(section)
        self._parser.set(section, option, value)
        self._save()

    def touch(self) -> None:
        """Create the file (empty) if it does not exist."""
        if not self.path.is_file():
            self._save()

    def unset(self, key: str) -> bool:
        section, option = _split(key)
        if not self._parser.has_option(section, option):
            return False
        self._parser.remove_option(section, option)
        if not self._parser.items(section):
            self._parser.remove_section(section)
        self._save()
        return True

    def remove_section_of(self, prefix: str) -> bool:
        """Remove every key under ``prefix`` (``remote.origin``); return whether any was."""
        section = _split(prefix + ".x")[0]
        removed = self._parser.remove_section(section)
        if removed:
            self._save()
        return removed

    def _save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(self.path.name + f".tmp{os.getpid()}")
        with open(tmp, "w", encoding="utf-8") as f:
            self._parser.write(f)
        os.replace(tmp, self.path)


class Config:
    """Resolved configuration for one working directory.

    Args:
        cwd: where the command runs (the repository is searched from here).
        environ: the environment (``os.environ`` by default).
        store_flag: the ``--store`` value, if given.
    """

    def __init__(
        self, cwd: Path, environ: Mapping[str, str] | None = None, store_flag: str | None = None
    ) -> None:
        self.cwd = cwd
        self.environ = os.environ if environ is None else environ
        self.store_flag = store_flag
        self.repo_root = find_repository(cwd)
        self.user = ConfigFile(user_config_path())
        self.repo = ConfigFile(self.repo_root / REPO_DIR / _FILE) if self.repo_root else None

    def file(self, level: str) -> ConfigFile:
        """The file of ``level`` (``repository`` or ``user``).

        Raises:
            ConfigKeyError: ``repository`` outside any repository.
        """
        if level == "user":
            return self.user
        if self.repo is None:
            raise ConfigKeyError("not inside a vstore repository")
        return self.repo

    def _env_name(self, key: str) -> str | None:
        known = KEYS.get(key)
        return known.env if known is not None else None

    def lookup(self, key: str) -> Setting | None:
        """The winning setting of ``key``, or None if nothing sets it."""
        if key == "core.url" and self.store_flag:
            flag = self.store_flag
            if "://" not in flag and not os.path.isabs(flag):
                flag = os.path.normpath(self.cwd / flag)  # relative to -C, as git does
            return Setting(key, flag, "command line", "command")
        env = self._env_name(key)
        if env and self.environ.get(env):
            return Setting(key, self.environ[env], f"env:{env}", "env")
        if self.repo is not None:
            value = self.repo.get(key)
            if value is not None:
                return Setting(key, self._repo_path(key, value), f"file:{self.repo.path}",
                               "repository")
            if key == "core.url":
                assert self.repo_root is not None
                return Setting(key, str(self.repo_root / REPO_DIR),
                               f"file:{self.repo.path} (the repository's own store)",
                               "repository")
        value = self.user.get(key)
        if value is not None:
            return Setting(key, value, f"file:{self.user.path}", "user")
        known = KEYS.get(key)
        if known is not None and known.default is not None:
            return Setting(key, known.default, "default", "default")
        return None

    def get(self, key: str) -> str | None:
        """The value of ``key``, or None."""
        s = self.lookup(key)
        return None if s is None else s.value

    def _repo_path(self, key: str, value: str) -> str:
        # A relative local path in the repository file is relative to the repository,
        # so the store is found from any subdirectory.
        is_url = key == "core.url" or (key.startswith("remote.") and key.endswith(".url"))
        if is_url and "://" not in value and not os.path.isabs(value):
            assert self.repo_root is not None
            return os.path.normpath(self.repo_root / value)
        return value

    def settings(self) -> list[Setting]:
        """Every key set anywhere (and every known key with a default), resolved."""
        keys = set(KEYS)
        for f in (self.user, self.repo):
            if f is not None:
                keys.update(k for k, _ in f.items())
        found = (self.lookup(k) for k in sorted(keys))
        return [s for s in found if s is not None]

    def storage_options(self, prefix: str) -> dict[str, object]:
        """Storage options under ``prefix`` (``storage`` or ``remote.NAME``), typed."""
        out: dict[str, object] = {}
        for s in self.settings():
            head, _, option = s.key.rpartition(".")
            if head == prefix and option != "url":
                out[option] = _typed(s.value)
        return out

    def remotes(self) -> dict[str, Setting]:
        """Named remotes: name -> the setting of its URL."""
        out: dict[str, Setting] = {}
        for s in self.settings():
            m = re.fullmatch(r"remote\.(.+)\.url", s.key)
            if m:
                out[m.group(1)] = s
        return out


def _typed(value: str) -> object:
    low = value.lower()
    if low in ("true", "false"):
        return low == "true"
    if re.fullmatch(r"-?\d+", value):
        return int(value)
    return value
