"""Notes as Jira shows them: REST v2 comment bodies are wiki markup, not Markdown or ADF.

Notes use a small Markdown subset (bold, italic, inline code, links, numbered and bulleted
lists with branches, headings, fenced code); this converts it line by line. A branch keeps
its parent's list type in its marker ("#*" is a bullet under a numbered step), and text
cannot open a macro ("{") or embed an image ("!https://...!").
"""

from __future__ import annotations

import re

_FENCE = re.compile(r"\s*```")
_HEADING = re.compile(r"(#{1,6})\s+(.*)")
_ITEM = re.compile(r"(\s*)([-*+]|\d{1,3}[.)])\s+(.*)")
_CODE_SPAN = re.compile(r"`([^`]+)`")
_LINK = re.compile(r"\[([^\[\]\n]+)\]\(([^\s)\[\]]+)\)")  # no "[" inside: linear on a line of "[[[["
_BOLD = re.compile(r"\*\*(.+?)\*\*|__(.+?)__")
# No "*" inside: a lazy scan from every " *a" of a long line to its end was quadratic.
_ITALIC = re.compile(r"(?<![*\w])\*(?![*\s])([^*]+?)(?<![*\s])\*(?![*\w])")
_IMAGE = re.compile(r"!(?=\S)")  # "!url!" embeds an image in wiki markup


def to_wiki(text: str) -> str:
    """Convert a note's Markdown-ish text to Jira wiki markup."""
    out, in_code = [], False
    markers: list[str] = []  # the list markers of the open levels: "#", "*"
    for line in text.splitlines():
        if _FENCE.match(line):
            out.append("{noformat}")
            in_code = not in_code
        elif in_code:
            out.append(line)
        elif m := _HEADING.fullmatch(line):
            out.append(f"h{len(m.group(1))}. {_inline(m.group(2))}")  # "# x" is a list in wiki
        elif m := _ITEM.fullmatch(line):
            depth = min(len(m.group(1).expandtabs(4)) // 2, len(markers))
            markers = markers[:depth] + ["*" if m.group(2) in "-*+" else "#"]
            out.append(f"{''.join(markers)} {_inline(m.group(3))}")
        else:
            markers = []
            out.append(_inline(line))
    if in_code:
        out.append("{noformat}")
    return "\n".join(out)


def _inline(text: str) -> str:
    """Convert inline Markdown in one line; code spans are left verbatim."""
    parts = _CODE_SPAN.split(text)  # even indexes: prose, odd: code
    for i, part in enumerate(parts):
        if i % 2:
            parts[i] = "{{" + part.replace("{", "\\{") + "}}"
            continue
        part = _IMAGE.sub(r"\\!", part.replace("{", "\\{"))  # "{" opens a wiki macro
        part = _LINK.sub(lambda m: f"[{m.group(1).replace('|', '/')}|{m.group(2)}]", part)
        part = _ITALIC.sub(r"_\1_", part)
        parts[i] = _BOLD.sub(lambda m: f"*{m.group(1) or m.group(2)}*", part)
    return "".join(parts)
