"""The JSON each command prints with ``--json``: the documented, stable schema.

Notation: a dict is an object with exactly those keys (``"*"`` as the only key: any keys,
each value of that type); a one-element list is an array of that type; a string is a type:
``str``, ``int``, ``float``, ``bool``, ``any``, a ``@Name`` from :data:`TYPES`, or several of
them joined by ``|`` (``str|null``). New keys may be added in later versions; existing keys
keep their meaning and type.
"""

from __future__ import annotations

from typing import Any

__all__ = ["COMMANDS", "TYPES", "check", "render"]

TYPES: dict[str, Any] = {
    "Dataset": {
        "id": "str", "name": "str", "description": "str", "project": "str|null",
        "tags": ["str"], "created": "str|null", "versions": "int?",
    },
    "Version": {
        "dataset": "str", "dataset_id": "str", "version": "str", "version_id": "str",
        "status": "str", "commit_id": "str", "parent_id": "str|null", "frames": "int",
        "updated": "str|null", "comment": "str", "latest": "bool",
    },
    "Count": {"name": "str", "count": "int"},
    "Setting": {"key": "str", "value": "str", "origin": "str", "level": "str"},
    "FrameSummary": {
        "id": "str", "uri": "str|null", "width": "int|null", "height": "int|null",
        "labels": ["str"], "annotations": "int", "meta": {"*": "any"},
    },
    "Change": {"id": "str", "uri": "str|null", "labels": {"*": "int"}, "fields": "[str]?"},
    "LogEntry": {
        "commit_id": "str", "version_id": "str|null", "version_name": "str|null",
        "status": "str|null", "time": "str|null", "message": "str",
    },
    "Copied": {
        "dataset": "str", "version": "str", "version_id": "str", "commit_id": "str",
        "result": "str", "reason": "str",
    },
}

_STATS = {
    "source": "str", "annotated": "int", "unannotated": "int", "labels": ["@Count"],
    "content_types": ["@Count"],
}

COMMANDS: dict[str, Any] = {
    "init": {"repository": "str", "config_file": "str", "url": "str", "created": "bool",
             "dataset": "str|null"},
    "config get": "@Setting",
    "config list": {"settings": ["@Setting"]},
    "dataset create": {"dataset": "@Dataset", "version": "@Version"},
    "dataset list": {"datasets": ["@Dataset"]},
    "dataset show": {"dataset": "@Dataset", "current": "str", "versions": ["@Version"]},
    "version create": {"version": "@Version"},
    "version list": {"dataset": "str", "current": "str", "versions": ["@Version"]},
    "version show": {"version": "@Version", "metadata": {"*": "any"},
                     "stats": {"labels": ["@Count"], "frames": ["@Count"],
                               "content_types": ["@Count"]}},
    "version rename": {"version": "@Version"},
    "add": {"version": "@Version", "added": "int", "tags": ["str"],
            "failed": [{"id": "str|null", "path": "str|null", "error": "str",
                        "error_type": "str"}]},
    "ls": {"version": "@Version", "frames": ["@FrameSummary"], "count": "int",
           "truncated": "bool"},
    "show": {"version": "@Version", "frame": {"*": "any"}},
    "stats": {"version": "@Version", "frames": "int", **_STATS},
    "commit": {"version": "@Version", "total": "int", "saved_and_updated": "int",
               "deleted": "int"},
    "publish": {"version": "@Version"},
    "snapshot": {"published": "@Version", "draft": "@Version"},
    "fork": {"version": "@Version", "parent": "@Version"},
    "merge": {"into": "@Version", "from": "@Version", "applied": "int", "conflicts": ["str"],
              "base_commit": "str"},
    "log": {"version": "@Version", "entries": ["@LogEntry"]},
    "diff": {"old": "@Version|null", "new": "@Version",
             "counts": {"added": "int", "modified": "int", "deleted": "int"},
             "labels": {"*": {"added": "int", "removed": "int"}},
             "added": ["@Change"], "modified": ["@Change"], "deleted": ["@Change"]},
    "download": {"version": "@Version", "target": "str", "files": "int", "downloaded": "int",
                 "skipped": "int", "failed": [{"name": "str", "uri": "str", "error": "str"}]},
    "sync": {"version": "@Version", "target": "str", "dry_run": "bool", "downloaded": "int",
             "to_download": ["str"], "up_to_date": "int", "extra": ["str"],
             "deleted": ["str"], "failed": [{"name": "str", "uri": "str", "error": "str"}]},
    "import": {"version": "@Version", "format": "str", "annotations": "int", "shapes": "int",
               "result": {"*": "int"}},
    "export": {"version": "@Version", "format": "str", "path": "str"},
    "remote list": {"remotes": [{"name": "str", "url": "str", "origin": "str"}]},
    "push": {"source": "str", "destination": "str", "dry_run": "bool",
             "objects_checked": "int", "objects_copied": "int", "bytes_copied": "int",
             "blobs_copied": "int", "versions": ["@Copied"]},
    "verify": {"ok": "bool", "objects_checked": "int", "refs_checked": "int",
               "missing": ["str"], "corrupt": [{"id": "str", "reason": "str"}],
               "dangling": "int"},
    "gc": {"dry_run": "bool", "grace_seconds": "float", "reachable": "int",
           "unreachable": "int", "too_young": "int", "deleted": "int", "candidates": ["str"]},
    "doctor": {
        "vstore": "str|null", "python": "str", "platform": "str", "packages": {"*": "str|null"},
        "repository": "str|null", "config": ["@Setting"], "environment": {"*": "str"},
        "store": {"url": "str|null", "kind": "str|null", "ok": "bool", "error": "str|null",
                  "datasets": "int|null", "atomic_create": "bool|null",
                  "durable": "bool|null"},
        "credentials": [{"provider": "str", "source": "str|null", "detail": "str"}],
    },
}
COMMANDS["pull"] = COMMANDS["push"]

_PRIMITIVES: dict[str, tuple[type, ...]] = {
    "str": (str,), "int": (int,), "float": (int, float), "bool": (bool,),
}


def _check_type(value: Any, spec: str, where: str) -> list[str]:
    if spec.startswith("[") and spec.endswith("]"):
        return _check(value, [spec[1:-1]], where)
    problems: list[str] = []
    for alt in spec.split("|"):
        if alt == "any" or (alt == "null" and value is None):
            return []
        if alt.startswith("@"):
            sub = _check(value, TYPES[alt[1:]], where)
            if not sub:
                return []
            problems = sub
            continue
        kinds = _PRIMITIVES.get(alt)
        if kinds and isinstance(value, kinds) and not (alt != "bool" and isinstance(value, bool)):
            return []
    return problems or [f"{where}: {value!r} is not {spec}"]


def _check(value: Any, schema: Any, where: str) -> list[str]:
    if isinstance(schema, str):
        return _check_type(value, schema, where)
    if isinstance(schema, list):
        if not isinstance(value, list):
            return [f"{where}: expected an array"]
        return [p for i, v in enumerate(value) for p in _check(v, schema[0], f"{where}[{i}]")]
    if not isinstance(value, dict):
        return [f"{where}: expected an object"]
    if list(schema) == ["*"]:
        return [p for k, v in value.items() for p in _check(v, schema["*"], f"{where}.{k}")]
    required = {k for k, s in schema.items() if not (isinstance(s, str) and s.endswith("?"))}
    problems = [f"{where}: missing {k!r}" for k in sorted(required - value.keys())]
    problems += [f"{where}: unexpected {k!r}" for k in sorted(value.keys() - schema.keys())]
    for k, s in schema.items():
        if k in value:
            spec = s[:-1] if isinstance(s, str) and s.endswith("?") else s
            problems += _check(value[k], spec, f"{where}.{k}")
    return problems


def check(command: str, data: Any) -> list[str]:
    """Problems of ``data`` against the schema of ``command`` (empty: it conforms)."""
    return _check(data, COMMANDS[command], "$")


def render(schema: Any, indent: int = 0) -> str:
    """A schema as indented pseudo-JSON, for the docs."""
    pad = "  " * indent
    if isinstance(schema, str):
        return schema
    if isinstance(schema, list):
        return "[" + render(schema[0], indent) + "]"
    lines = ["{"]
    for k, v in schema.items():
        lines.append(f"{pad}  {k!s}: {render(v, indent + 1)}")
    lines.append(pad + "}")
    return "\n".join(lines)
