"""``vstore diff --html``: one self-contained HTML file (no network, no external assets).

Styles are inline, images are ``data:`` URIs, boxes are inline SVG drawn over the image:
green for annotations the new version adds, red (dashed) for those it removes, grey for
those unchanged. A frame whose image cannot be read is drawn on a blank canvas.
"""

from __future__ import annotations

import base64
import html
import mimetypes
import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from vstore.cli.diffview import KINDS, Change, DiffData

if TYPE_CHECKING:
    from vstore.datasets.store import Store

__all__ = ["MAX_IMAGE_BYTES", "render_html"]

MAX_IMAGE_BYTES = 8 * 1024 * 1024
_COLORS = {"added": "#1a7f37", "removed": "#cf222e", "same": "#8c959f"}
_CSS = """
body{font:14px/1.45 system-ui,sans-serif;margin:2em;color:#1f2328;background:#fff}
h1{font-size:20px}h2{font-size:16px;margin-top:2em}code{font-size:12px}
table{border-collapse:collapse}td,th{padding:3px 10px;border-bottom:1px solid #d0d7de;
text-align:left}td.n{text-align:right;font-variant-numeric:tabular-nums}
.added{color:#1a7f37}.modified{color:#9a6700}.deleted{color:#cf222e}
.bar{display:inline-block;height:10px}.grid{display:flex;flex-wrap:wrap;gap:16px}
.card{border:1px solid #d0d7de;border-radius:6px;padding:8px;width:340px}
.card svg{width:100%;height:auto;background:#f6f8fa}.meta{font-size:12px;color:#59636e;
word-break:break-all}.badge{font-weight:600;text-transform:uppercase;font-size:11px}
"""


def _text(value: object) -> str:
    # Escaped, and with ':' as an entity so no scheme://... appears literally in the file.
    return html.escape(str(value)).replace(":", "&#58;")


def _image_bytes(store: Store, uri: str, remote: bool) -> bytes | None:
    try:
        if uri.startswith("file://"):
            from urllib.parse import unquote

            path = unquote(uri[len("file://"):])
            if os.path.getsize(path) > MAX_IMAGE_BYTES:
                return None
            with open(path, "rb") as f:
                return f.read()
        if uri.startswith("datalake://"):
            from vstore.picsellia.transfer import read_source

            return read_source(store, uri)
        if remote:
            import fsspec

            with fsspec.open(uri, "rb") as f:
                data: bytes = f.read(MAX_IMAGE_BYTES + 1)
            return data if len(data) <= MAX_IMAGE_BYTES else None
    except Exception:  # an unreadable image only means the frame is drawn without it
        return None
    return None


def _data_uri(data: bytes, uri: str, content_type: str | None) -> str:
    mime = content_type or mimetypes.guess_type(uri)[0] or "application/octet-stream"
    return f"data:{mime};base64,{base64.b64encode(data).decode()}"


def _rois(record: dict[str, Any] | None) -> list[tuple[tuple[str, ...], tuple[float, ...]]]:
    return [(tuple(r.get("label") or ()), tuple(r.get("poly") or ()))
            for r in (record or {}).get("rois") or ()]


def _shapes(c: Change) -> list[tuple[str, tuple[str, ...], tuple[float, ...]]]:
    old, new = _rois(c.old), _rois(c.new)
    out = [("same" if r in old else "added", r[0], r[1]) for r in new]
    out += [("removed", r[0], r[1]) for r in old if r not in new]
    return out


def _canvas(src: dict[str, Any], shapes: list[Any]) -> tuple[float, float]:
    w, h = src.get("width"), src.get("height")
    if isinstance(w, (int, float)) and isinstance(h, (int, float)) and w > 0 and h > 0:
        return float(w), float(h)
    xs = [p for _, _, poly in shapes for p in poly[0::2]] or [100.0]
    ys = [p for _, _, poly in shapes for p in poly[1::2]] or [100.0]
    return max(xs) * 1.1 or 100.0, max(ys) * 1.1 or 100.0


def _svg(c: Change, image: str | None) -> str:
    rec = c.record
    src = dict((rec.get("sources") or [{}])[0])
    shapes = _shapes(c)
    w, h = _canvas(src, shapes)
    stroke = max(w, h) / 250
    parts = [f'<svg viewBox="0 0 {w:g} {h:g}" role="img">']
    if image is not None:
        parts.append(f'<image href="{image}" x="0" y="0" width="{w:g}" height="{h:g}"/>')
    for state, labels, poly in shapes:
        if len(poly) < 4:
            continue
        points = " ".join(f"{x:g},{y:g}" for x, y in zip(poly[0::2], poly[1::2], strict=False))
        dash = f' stroke-dasharray="{stroke * 3:g}"' if state == "removed" else ""
        parts.append(f'<polygon points="{points}" fill="none" stroke="{_COLORS[state]}" '
                     f'stroke-width="{stroke:g}"{dash}><title>{_text(", ".join(labels))} '
                     f"({state})</title></polygon>")
        parts.append(f'<text x="{poly[0]:g}" y="{max(poly[1] - stroke * 2, stroke * 8):g}" '
                     f'fill="{_COLORS[state]}" font-size="{stroke * 8:g}">'
                     f"{_text(', '.join(labels))}</text>")
    parts.append("</svg>")
    return "".join(parts)


def _card(c: Change, image: Callable[[Change], str | None]) -> str:
    deltas = ", ".join(f"{k} {v:+d}" for k, v in c.label_deltas().items()) or "no label change"
    img = image(c)
    note = "" if img is not None else '<div class="meta">image not reachable</div>'
    fields = f" · changed: {_text(', '.join(c.fields()))}" if c.kind == "modified" else ""
    return (f'<div class="card"><div><span class="badge {c.kind}">{c.kind}</span> '
            f"<code>{_text(c.id)}</code></div>{_svg(c, img)}{note}"
            f'<div class="meta">{_text(c.uri or "-")}</div>'
            f'<div class="meta">{_text(deltas)}{fields}</div></div>')


def _labels_table(data: DiffData) -> str:
    rows = data.labels
    if not rows:
        return "<p>No label changes.</p>"
    top = max(max(r["added"], r["removed"]) for r in rows.values()) or 1
    out = ["<table><tr><th>label</th><th>added</th><th>removed</th><th></th></tr>"]
    for name, r in rows.items():
        bars = (f'<span class="bar" style="width:{80 * r["added"] / top:.0f}px;'
                f'background:{_COLORS["added"]}"></span><span class="bar" style="width:'
                f'{80 * r["removed"] / top:.0f}px;background:{_COLORS["removed"]}"></span>')
        out.append(f'<tr><td>{_text(name)}</td><td class="n added">+{r["added"]:,}</td>'
                   f'<td class="n deleted">-{r["removed"]:,}</td><td>{bars}</td></tr>')
    out.append("</table>")
    return "".join(out)


def render_html(data: DiffData, max_frames: int, remote_images: bool) -> str:
    """The report as one HTML document.

    Args:
        data: the diff.
        max_frames: at most this many changed frames are drawn.
        remote_images: also fetch images from remote URLs (s3://, gs://, ...).
    """
    store = data.new.store

    def image(c: Change) -> str | None:
        uri = c.uri
        if uri is None:
            return None
        raw = _image_bytes(store, uri, remote_images)
        src = (c.record.get("sources") or [{}])[0]
        return None if raw is None else _data_uri(raw, uri, src.get("content_type"))

    counts = data.counts
    summary = " · ".join(f'<span class="{k}">{counts[k]:,} {k}</span>' for k in KINDS)
    old = _text(data.old.label) if data.old is not None else "(empty)"
    body = [f"<h1>vstore diff</h1><p><code>{old}</code> → <code>{_text(data.new.label)}</code>"
            f"</p><p>{summary}</p>", "<h2>Labels</h2>", _labels_table(data)]
    drawn = 0
    for kind in KINDS:
        group = data.by_kind(kind)
        if not group:
            continue
        body.append(f'<h2 class="{kind}">{kind.capitalize()} ({len(group):,})</h2>'
                    '<div class="grid">')
        for c in group:
            if drawn >= max_frames:
                break
            body.append(_card(c, image))
            drawn += 1
        body.append("</div>")
    if drawn < len(data.changes):
        body.append(f"<p>{len(data.changes) - drawn:,} more changed frames are not drawn "
                    "(raise --max-frames).</p>")
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>vstore diff</title><style>{_CSS}</style></head><body>"
            + "\n".join(body) + "</body></html>\n")
