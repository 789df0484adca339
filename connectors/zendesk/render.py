"""Notes as Zendesk shows them: the comment's html_body.

A plain `body` shows Markdown as typed (asterisks and all); html_body renders. Notes use
a small Markdown subset (bold, inline code, links, numbered and bulleted lists with one level
of branches, paragraphs), so a small converter is enough. Every character of input is
escaped, attribute values included (quote=True), and a link is only ever built from a URL
that cannot hold a quote, a bracket or a space: text in a note cannot add an attribute or a tag.
"""

from __future__ import annotations

import html
import re

_URL = r"https?://[^\s<>\"'`()\[\]{}]+"
_LINKS = re.compile(rf"\[([^\[\]\n]{{1,300}})\]\(({_URL})\)|({_URL})")  # no "[" in a label: each "[" scans to the next
_BOLD = re.compile(r"\*\*(.+?)\*\*")
_CODE = re.compile(r"`([^`]+)`")
_ITEM = re.compile(r"(\s*)(?:(\d{1,3})[.)]|[-*])\s+(.*)")
_TRAILING = ".,;:!?"  # ends a sentence, not a URL: "see https://x.test/a."


def _link(label: str, url: str) -> str:
    return f'<a href="{html.escape(url, quote=True)}">{label}</a>'


def _inline(text: str) -> str:
    """Escape a line and render its bold, code and links."""
    out, at = [], 0
    for m in _LINKS.finditer(text):
        out.append(_styled(text[at:m.start()]))
        if m.group(2):
            out.append(_link(_styled(m.group(1)), m.group(2)))
            at = m.end()
        else:
            url = m.group(3).rstrip(_TRAILING)
            out.append(_link(html.escape(url, quote=True), url))
            at = m.start() + len(url)
    out.append(_styled(text[at:]))
    return "".join(out)


def _styled(text: str) -> str:
    text = html.escape(text, quote=True)
    text = _BOLD.sub(r"<strong>\1</strong>", text)
    return _CODE.sub(r"<code>\1</code>", text)


def _list(lines: list[re.Match]) -> str:
    """A list whose indented items are branches of the item above them."""
    tag = "ol" if lines[0].group(2) else "ul"
    items: list[tuple[str, list[str]]] = []
    for m in lines:
        if items and len(m.group(1)) >= 2:
            items[-1][1].append(_inline(m.group(3)))
        else:
            items.append((_inline(m.group(3)), []))
    body = "".join(f"<li>{text}" + (f"<ul>{''.join(f'<li>{c}</li>' for c in children)}</ul>" if children else "")
                   + "</li>" for text, children in items)
    return f"<{tag}>{body}</{tag}>"


def to_html(markdown: str) -> str:
    """Render a note's Markdown subset to HTML, one block per blank-line-separated paragraph."""
    blocks = []
    for block in re.split(r"\n\s*\n", markdown.strip()):
        lines = block.splitlines()
        items = [m for m in map(_ITEM.fullmatch, lines) if m]
        if len(items) == len(lines) and not items[0].group(1):
            blocks.append(_list(items))
        elif len(lines) > 1 and len(items) == len(lines) - 1 and not _ITEM.fullmatch(lines[0]) \
                and not items[0].group(1):  # a heading line, then a list
            blocks.append(f"<p>{_inline(lines[0])}</p>" + _list(items))
        else:
            blocks.append("<p>" + "<br>".join(_inline(line) for line in lines) + "</p>")
    return "".join(blocks)
