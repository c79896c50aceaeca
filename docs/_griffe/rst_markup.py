"""Griffe extension: render the reStructuredText markup of klaw's docstrings as Markdown.

klaw's docstrings follow Google style, but some use reStructuredText inside: Sphinx roles
(``:class:`CodecPool```), simple tables (rows between ``=====`` borders) and ``::`` before
a literal block. mkdocstrings renders docstrings as Markdown, where these would show up
verbatim. This extension rewrites them when griffe loads each object, before rendering:

- a role becomes an optional cross-reference: a link when the target is documented, plain
  code otherwise (``~`` shows only the last part of the name, as in Sphinx);
- a simple table becomes a Markdown table (a row whose first cell is empty continues the
  row above it);
- ``text::`` before an indented block becomes ``text:``.

The docstrings in the packages are not changed. Loaded by ``mkdocs.yml``
(``plugins.mkdocstrings.handlers.python.options.extensions``).
"""

from __future__ import annotations

import html
import re
from typing import Any

import griffe

_ROLE = re.compile(r":(?:class|data|func|meth|mod|attr|exc|obj):`(?P<target>[^`]+)`")
_BORDER = re.compile(r"^\s*=+(?: +=+)+\s*$")
_LITERAL_MARKER = re.compile(r"(?<=\S)::$", re.MULTILINE)


def _identifier(obj: griffe.Object, target: str) -> str:
    """The full dotted path a role's target most likely names, seen from ``obj``."""
    if target.startswith(("klaw_", "msgspec.")):
        return target
    head, _, rest = target.partition(".")
    try:
        path = obj.resolve(head)
    except (griffe.GriffeError, ValueError):  # not in scope: assume the package exports it
        path = f"{obj.package.path}.{head}"
    return f"{path}.{rest}" if rest else path


def _role_to_ref(obj: griffe.Object, match: re.Match[str]) -> str:
    target = match["target"]
    short = target.startswith("~")
    target = target.lstrip("~")
    title = target.rsplit(".", 1)[-1] if short else target
    identifier = html.escape(_identifier(obj, target), quote=True)
    code = f"<code>{html.escape(title)}</code>"
    return f'<autoref identifier="{identifier}" optional>{code}</autoref>'


def _columns(border: str) -> list[int]:
    """Start offsets of the columns a table border marks out."""
    return [m.start() for m in re.finditer(r"=+", border)]


def _cells(line: str, starts: list[int]) -> list[str]:
    ends = [*starts[1:], None]
    return [line[start:end].strip() for start, end in zip(starts, ends, strict=True)]


def _markdown_table(lines: list[str]) -> list[str]:
    """Convert one simple table (its lines, borders included) to a Markdown table."""
    starts = _columns(lines[0])
    borders = [i for i, line in enumerate(lines) if _BORDER.match(line)]
    header = _cells(lines[borders[0] + 1], starts)
    rows: list[list[str]] = []
    for line in lines[borders[1] + 1 : borders[-1]]:
        if not line.strip():
            continue
        cells = _cells(line, starts)
        if rows and not cells[0]:
            rows[-1] = [f"{old} {new}".strip() for old, new in zip(rows[-1], cells, strict=True)]
        else:
            rows.append(cells)
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    out += ["| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |" for row in rows]
    return out


def _convert_tables(text: str) -> str:
    lines = text.splitlines()
    out: list[str] = []
    i = 0
    while i < len(lines):
        if not _BORDER.match(lines[i]):
            out.append(lines[i])
            i += 1
            continue
        # A simple table has three borders: top, below the header, bottom.
        borders = [i]
        j = i + 1
        while j < len(lines) and len(borders) < 3 and lines[j].strip():
            if _BORDER.match(lines[j]):
                borders.append(j)
            j += 1
        if len(borders) < 3:
            out.append(lines[i])
            i += 1
            continue
        if out and out[-1].strip():
            out.append("")
        out += _markdown_table(lines[i:j])
        out.append("")
        i = j
    return "\n".join(out)


def _convert(obj: griffe.Object, text: str) -> str:
    text = _ROLE.sub(lambda match: _role_to_ref(obj, match), text)
    text = _LITERAL_MARKER.sub(":", text)
    return _convert_tables(text) if "==" in text else text


class RstMarkup(griffe.Extension):
    """Rewrite Sphinx roles, simple tables and ``::`` markers of every loaded docstring."""

    def on_package(self, *, pkg: griffe.Module, **kwargs: Any) -> None:
        """Convert the docstrings of a loaded package and of everything it defines.

        Args:
            pkg: The package griffe just loaded.
            **kwargs: Other arguments griffe passes to its hooks.
        """
        self._walk(pkg, set())

    def _walk(self, obj: griffe.Object, seen: set[str]) -> None:
        if obj.path in seen:
            return
        seen.add(obj.path)
        if obj.docstring is not None:
            obj.docstring.value = _convert(obj, obj.docstring.value)
        for member in obj.members.values():
            if not member.is_alias and isinstance(member, griffe.Object):
                self._walk(member, seen)
