"""Notes as Zendesk shows them: the comment's html_body.

A plain `body` shows Markdown as typed (asterisks and all); html_body renders. Notes use
a small Markdown subset (bold, inline code, links, numbered and bulleted lists,
paragraphs), so a small converter is enough and every character of input is escaped.
"""

from __future__ import annotations

import html
import re

_BOLD = re.compile(r"\*\*(.+?)\*\*")
_CODE = re.compile(r"`([^`]+)`")
_LINK = re.compile(r"\[([^\]]+)\]\((https?://[^)\s]+)\)")
_BARE_URL = re.compile(r"(?<![\"'>=])(https?://[^\s<)]+)")
_ITEM = re.compile(r"^\s*(?:(\d+)[.)]|[-*])\s+(.*)$")


def _inline(text: str) -> str:
    text = html.escape(text, quote=False)
    text = _LINK.sub(lambda m: f'<a href="{m.group(2)}">{m.group(1)}</a>', text)
    text = _BARE_URL.sub(lambda m: f'<a href="{m.group(1)}">{m.group(1)}</a>', text)
    text = _BOLD.sub(r"<strong>\1</strong>", text)
    return _CODE.sub(r"<code>\1</code>", text)


def to_html(markdown: str) -> str:
    """Render a note's Markdown subset to HTML, one block per blank-line-separated paragraph."""
    blocks = []
    for block in re.split(r"\n\s*\n", markdown.strip()):
        lines = block.splitlines()
        items = [_ITEM.match(line) for line in lines]
        if items and all(items):
            tag = "ol" if items[0].group(1) else "ul"
            blocks.append(f"<{tag}>" + "".join(f"<li>{_inline(m.group(2))}</li>" for m in items) + f"</{tag}>")
        elif len(lines) > 1 and all(items[1:]):  # a heading line, then a list ("Sources:")
            tag = "ol" if items[1].group(1) else "ul"
            blocks.append(f"<p>{_inline(lines[0])}</p><{tag}>"
                          + "".join(f"<li>{_inline(m.group(2))}</li>" for m in items[1:]) + f"</{tag}>")
        else:
            blocks.append("<p>" + "<br>".join(_inline(line) for line in lines) + "</p>")
    return "".join(blocks)
