"""Self-contained HTML reports, and their Markdown twin, from a small document model.

A :class:`Document` is a title, a few opening blocks and a list of :class:`Section`
objects, each a heading and blocks: :class:`Paragraph`, :class:`KeyValues`,
:class:`Table`, :class:`Cards`, :class:`Image` and :class:`Code`.
:meth:`Document.write_html` writes one HTML file with its stylesheet inline and every
figure embedded as a ``data:`` URI (and linked to its file), so the page can be mailed
alone or browsed beside its folder. :meth:`Document.write_markdown` writes the same
content as Markdown. In all text except the title, `backticks` mark code; everything
else is shown literally (HTML is escaped).

The training report and the demo report are built with it. It imports nothing but the
standard library, :mod:`eegemo.atomic` and :mod:`eegemo.errors`, so any part of eegemo
can use it.
"""

from __future__ import annotations

import base64
import html
import numbers
import os
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from .atomic import atomic_open
from .errors import EegemoError

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_CODE_SPAN = re.compile(r"`([^`]+)`")

_STYLE = """
:root{--fg:#1f2328;--muted:#59636e;--line:#d1d9e0;--soft:#f6f8fa;--accent:#0969da}
*{box-sizing:border-box}
body{margin:0;color:var(--fg);background:#fff;
font:16px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif}
main{max-width:64rem;margin:0 auto;padding:2rem 1.5rem 4rem}
h1{font-size:2rem;margin:0 0 .2rem}
.subtitle{color:var(--muted);margin:0 0 1rem}
nav{display:flex;flex-wrap:wrap;gap:.2rem 1.2rem;margin:1rem 0 1.5rem;padding:.5rem 0;
border-top:1px solid var(--line);border-bottom:1px solid var(--line);font-size:.9rem}
nav a{text-decoration:none}nav a:hover{text-decoration:underline}
h2{font-size:1.35rem;margin:2.5rem 0 .8rem;padding-bottom:.3rem;
border-bottom:1px solid var(--line)}
p{margin:.6rem 0}a{color:var(--accent)}
code{font:.875em ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;background:var(--soft);
padding:.1em .35em;border-radius:4px}
pre{background:var(--soft);border:1px solid var(--line);border-radius:6px;padding:.8rem 1rem;
overflow-x:auto;line-height:1.45}
pre code{background:none;padding:0}
.table{overflow-x:auto;margin:.8rem 0}
table{border-collapse:collapse;font-size:.92rem}
th,td{border:1px solid var(--line);padding:.35rem .7rem;text-align:left;vertical-align:top}
thead th{background:var(--soft)}tbody tr:nth-child(even){background:#fafbfc}
table.kv th{background:var(--soft);font-weight:600;white-space:nowrap}
.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
.cards{display:flex;flex-wrap:wrap;gap:.8rem;margin:.8rem 0}
.card{flex:0 1 11rem;border:1px solid var(--line);border-left:4px solid var(--accent);
border-radius:6px;padding:.5rem .9rem}
.card .value{display:block;font-size:1.6rem;font-weight:600;font-variant-numeric:tabular-nums}
.card .label{color:var(--muted);font-size:.85rem}
figure{margin:1.2rem 0}
figure img{display:block;max-width:100%;height:auto;border:1px solid var(--line);
border-radius:4px}
figcaption{color:var(--muted);font-size:.9rem;margin-top:.4rem;max-width:48rem}
"""


def image_data_uri(path: str | Path) -> str:
    """Return the PNG file at ``path`` as a ``data:image/png;base64,...`` URI.

    Parameters
    ----------
    path : path-like
        A PNG file.

    Returns
    -------
    uri : str

    Raises
    ------
    EegemoError
        If the file cannot be read or is not a PNG.
    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise EegemoError(f"{path}: cannot read the figure ({exc.strerror})") from None
    if not data.startswith(_PNG_SIGNATURE):
        raise EegemoError(f"{path}: not a PNG image")
    return "data:image/png;base64," + base64.b64encode(data).decode("ascii")


def format_value(value: Any, float_format: str = ".4g") -> str:
    """Format a value for a table cell or card.

    Parameters
    ----------
    value : object
        Floats (numpy's too) use ``float_format``. A list or tuple is joined with commas
        and a mapping becomes ``key = value`` pairs (``none`` when empty); lists and
        mappings inside them are bracketed. Anything else goes through :func:`str`.
    float_format : str
        Format specification for floats (see :func:`format`).

    Returns
    -------
    text : str
    """
    if isinstance(value, list | tuple | dict):
        return _join(value, float_format) if value else "none"
    return _scalar(value, float_format)


def _scalar(value: Any, float_format: str) -> str:
    if isinstance(value, numbers.Real) and not isinstance(value, numbers.Integral):
        return format(value, float_format)
    return str(value)


def _join(value: list | tuple | dict, float_format: str) -> str:
    def nested(v: Any) -> str:
        if isinstance(v, dict):
            return "{" + _join(v, float_format) + "}"
        if isinstance(v, list | tuple):
            return "[" + _join(v, float_format) + "]"
        return _scalar(v, float_format)

    if isinstance(value, dict):
        return ", ".join(f"{k} = {nested(v)}" for k, v in value.items())
    return ", ".join(nested(v) for v in value)


def _inline(text: str) -> str:
    """Escape ``text`` for HTML, then turn `backtick` spans into ``<code>``."""
    return _CODE_SPAN.sub(r"<code>\1</code>", html.escape(text))


def _md_cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _is_number(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _href(path: Path, base_dir: Path) -> str:
    return Path(os.path.relpath(path, base_dir)).as_posix()


class Block(Protocol):
    """What a section holds: anything rendered to both HTML and Markdown."""

    def to_html(self, base_dir: Path) -> str:
        """HTML for a page written into ``base_dir``."""

    def to_markdown(self, base_dir: Path) -> str:
        """Markdown for a file written into ``base_dir``."""


@dataclass
class Paragraph:
    """A paragraph of text."""

    text: str

    def to_html(self, base_dir: Path) -> str:
        return f"<p>{_inline(self.text)}</p>"

    def to_markdown(self, base_dir: Path) -> str:
        return self.text


@dataclass
class KeyValues:
    """Named facts: a two-column table in HTML, a bullet list in Markdown.

    Parameters
    ----------
    items : sequence of (str, object)
        Name and value; values are formatted with :func:`format_value`.
    """

    items: Sequence[tuple[str, Any]]

    def to_html(self, base_dir: Path) -> str:
        rows = "".join(
            f"<tr><th>{_inline(k)}</th><td>{_inline(format_value(v))}</td></tr>"
            for k, v in self.items
        )
        return f'<div class="table"><table class="kv"><tbody>{rows}</tbody></table></div>'

    def to_markdown(self, base_dir: Path) -> str:
        return "\n".join(f"- {k}: {format_value(v)}" for k, v in self.items)


@dataclass
class Table:
    """A table with a header row; columns holding only numbers are right-aligned.

    Parameters
    ----------
    header : sequence of str
        Column names.
    rows : sequence of sequence
        One value per column, formatted with :func:`format_value`.
    float_format : str
        Format specification for float cells.
    """

    header: Sequence[str]
    rows: Sequence[Sequence[Any]]
    float_format: str = ".4g"

    def __post_init__(self) -> None:
        self.rows = [tuple(row) for row in self.rows]
        bad = [row for row in self.rows if len(row) != len(self.header)]
        if bad:
            raise ValueError(f"table row {bad[0]!r} does not have {len(self.header)} cells")

    def _numeric(self) -> list[bool]:
        return [bool(self.rows) and all(_is_number(row[i]) for row in self.rows)
                for i in range(len(self.header))]

    def to_html(self, base_dir: Path) -> str:
        cls = [' class="num"' if num else "" for num in self._numeric()]
        head = "".join(f"<th{c}>{_inline(h)}</th>" for c, h in zip(cls, self.header, strict=True))
        body = "".join(
            "<tr>" + "".join(f"<td{c}>{_inline(format_value(v, self.float_format))}</td>"
                             for c, v in zip(cls, row, strict=True)) + "</tr>"
            for row in self.rows
        )
        return (f'<div class="table"><table><thead><tr>{head}</tr></thead>'
                f"<tbody>{body}</tbody></table></div>")

    def to_markdown(self, base_dir: Path) -> str:
        lines = ["| " + " | ".join(_md_cell(h) for h in self.header) + " |",
                 "|" + "|".join("---:" if num else "---" for num in self._numeric()) + "|"]
        lines += ["| " + " | ".join(_md_cell(format_value(v, self.float_format)) for v in row)
                  + " |" for row in self.rows]
        return "\n".join(lines)


@dataclass
class Cards:
    """Headline numbers shown large: cards in HTML, a one-row table in Markdown.

    Parameters
    ----------
    items : sequence of (str, object)
        Label and value; values are formatted with :func:`format_value`.
    float_format : str
        Format specification for float values.
    """

    items: Sequence[tuple[str, Any]]
    float_format: str = ".3f"

    def to_html(self, base_dir: Path) -> str:
        cards = "".join(
            f'<div class="card"><span class="value">'
            f"{_inline(format_value(v, self.float_format))}</span>"
            f'<span class="label">{_inline(k)}</span></div>'
            for k, v in self.items
        )
        return f'<div class="cards">{cards}</div>'

    def to_markdown(self, base_dir: Path) -> str:
        return Table([k for k, _ in self.items], [[v for _, v in self.items]],
                     self.float_format).to_markdown(base_dir)


@dataclass
class Image:
    """A PNG figure with a caption: embedded in HTML (and linked), linked in Markdown.

    Parameters
    ----------
    path : path-like
        The PNG file; read when the page is rendered.
    caption : str
        What the figure shows.
    """

    path: str | Path
    caption: str

    def to_html(self, base_dir: Path) -> str:
        href = html.escape(_href(Path(self.path), base_dir))
        return (f'<figure><img src="{image_data_uri(self.path)}" alt="{html.escape(self.caption)}">'
                f'<figcaption>{_inline(self.caption)} <a href="{href}">{href}</a></figcaption>'
                "</figure>")

    def to_markdown(self, base_dir: Path) -> str:
        return f"![{self.caption}]({_href(Path(self.path), base_dir)})"


@dataclass
class Code:
    """A block of code or commands, shown as is."""

    text: str

    def to_html(self, base_dir: Path) -> str:
        return f"<pre><code>{html.escape(self.text)}</code></pre>"

    def to_markdown(self, base_dir: Path) -> str:
        return f"```\n{self.text}\n```"


@dataclass
class Section:
    """A heading and its blocks."""

    heading: str
    blocks: list[Block] = field(default_factory=list)


@dataclass
class Document:
    """A report: a title, an optional subtitle, opening blocks and sections.

    Parameters
    ----------
    title : str
        Page title and first heading.
    subtitle : str
        One muted line under the title (when, which version...).
    blocks : list of Block
        Shown before the first section.
    sections : list of Section
        The report's sections, in page order; linked from a table of contents when
        there are two or more.
    """

    title: str
    subtitle: str = ""
    blocks: list[Block] = field(default_factory=list)
    sections: list[Section] = field(default_factory=list)

    def to_html(self, base_dir: str | Path) -> str:
        """Render the page; figure links are relative to ``base_dir``.

        Parameters
        ----------
        base_dir : path-like
            Folder the page will be written to.

        Returns
        -------
        page : str
            A complete HTML document.

        Raises
        ------
        EegemoError
            If a figure cannot be read or is not a PNG.
        """
        base_dir = Path(base_dir)
        body = [f"<header><h1>{html.escape(self.title)}</h1>"]
        if self.subtitle:
            body.append(f'<p class="subtitle">{_inline(self.subtitle)}</p>')
        body.append("</header>")
        if len(self.sections) > 1:
            body.append("<nav>" + "".join(
                f'<a href="#section-{i}">{_inline(s.heading)}</a>'
                for i, s in enumerate(self.sections, start=1)
            ) + "</nav>")
        body += [block.to_html(base_dir) for block in self.blocks]
        for i, section in enumerate(self.sections, start=1):
            body.append(f'<section id="section-{i}"><h2>{_inline(section.heading)}</h2>')
            body += [block.to_html(base_dir) for block in section.blocks]
            body.append("</section>")
        return (
            '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{html.escape(self.title)}</title><style>{_STYLE}</style></head>\n"
            "<body><main>\n" + "\n".join(body) + "\n</main></body></html>\n"
        )

    def to_markdown(self, base_dir: str | Path) -> str:
        """Render the same content as Markdown; figure links are relative to ``base_dir``.

        Parameters
        ----------
        base_dir : path-like
            Folder the file will be written to.

        Returns
        -------
        text : str
        """
        base_dir = Path(base_dir)
        parts = [f"# {self.title}"]
        if self.subtitle:
            parts.append(f"_{self.subtitle}_")
        parts += [block.to_markdown(base_dir) for block in self.blocks]
        for section in self.sections:
            parts.append(f"## {section.heading}")
            parts += [block.to_markdown(base_dir) for block in section.blocks]
        return "\n\n".join(parts) + "\n"

    def write_html(self, path: str | Path) -> Path:
        """Write the page (see :meth:`to_html`) to ``path``, atomically.

        Parameters
        ----------
        path : path-like
            Destination ``.html`` file; figure links are relative to its folder.

        Returns
        -------
        path : Path
            The file written.
        """
        return _write(path, self.to_html)

    def write_markdown(self, path: str | Path) -> Path:
        """Write the Markdown version (see :meth:`to_markdown`) to ``path``, atomically.

        Parameters
        ----------
        path : path-like
            Destination ``.md`` file; figure links are relative to its folder.

        Returns
        -------
        path : Path
            The file written.
        """
        return _write(path, self.to_markdown)


def _write(path: str | Path, render: Callable[[Path], str]) -> Path:
    """Write ``render(folder of path)`` to ``path`` atomically; return the path."""
    path = Path(path)
    with atomic_open(path, "w", encoding="utf-8") as fh:
        fh.write(render(path.parent))
    return path
