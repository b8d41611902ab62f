"""``vstore diff``."""

from __future__ import annotations

from pathlib import Path

import click

from vstore.cli.context import get_env
from vstore.cli.errors import CliUsageError
from vstore.cli.options import ADDRESS_HELP, common, json_option, resolve_address

__all__ = ["COMMANDS"]


@click.command(epilog="\b\nWith no VERSION: @current~1 against @current. With one: its "
               "parent against it.\n\n" + ADDRESS_HELP)
@click.argument("old", required=False, metavar="[OLD]")
@click.argument("new", required=False, metavar="[NEW]")
@click.option("--stat", is_flag=True, help="Only the per-label counts and the summary line.")
@click.option("--md", "markdown", is_flag=True, help="Print Markdown (for CI comments).")
@click.option("--exit-code", is_flag=True,
              help="Exit 1 if the versions differ, 0 if they do not (like git diff).")
@click.option("--html", "html_path", type=click.Path(dir_okay=False, path_type=Path),
              default=None, metavar="FILE",
              help="Also write a self-contained HTML report with the boxes drawn on the images.")
@click.option("--limit", type=click.IntRange(min=0), metavar="N", default=None,
              help="At most this many frames listed per group (text and Markdown).")
@click.option("--max-frames", type=click.IntRange(min=0), metavar="N", default=200,
              show_default=True, help="At most this many changed frames drawn in the HTML report.")
@click.option("--remote-images", is_flag=True,
              help="Let the HTML report fetch images from remote URLs (s3://, gs://, ...).")
@common
@json_option
def diff(old: str | None, new: str | None, stat: bool, markdown: bool, exit_code: bool,
         html_path: Path | None, limit: int | None, max_frames: int,
         remote_images: bool) -> None:
    """Show the frames added, modified and deleted between two versions.

    Grouped by kind, with the change of each label's annotation count and a summary
    line. The cost follows what changed, not the size of the versions.
    """
    from vstore.cli.diffview import compute, text_lines
    from vstore.cli.diffview import markdown as to_markdown

    env = get_env()
    if markdown and env.json:
        raise CliUsageError("--md and --json exclude each other", "give one of them")
    if new is None:
        target = resolve_address(old)
        older = resolve_address(f"{target.text}~1") if target.commit.parents else None
    else:
        older, target = resolve_address(old), resolve_address(new)
    data = compute(env, older, target)
    if html_path is not None:
        from vstore.cli.htmlreport import render_html

        with env.phase("html report"):
            text = render_html(data, max_frames, remote_images)
        path = html_path if html_path.is_absolute() else env.cwd / html_path
        path.write_text(text, encoding="utf-8")
        env.info(f"wrote {path}")
    if env.json:
        env.emit(data.json())
    elif markdown:
        click.echo(to_markdown(data, stat, limit), nl=False)
    else:
        for line in text_lines(env, data, stat, limit):
            env.echo(line)
    if exit_code and data.changes:
        click.get_current_context().exit(1)


COMMANDS = [diff]
