"""One layout for every note: headline, body blocks, sources as links, why, feedback marker.

Notes are a small Markdown subset (bold, inline code, links, numbered and bulleted lists
with one level of branches, paragraphs) that each connector renders for its helpdesk
(connectors/zendesk/render.py, connectors/jira/render.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote

from connectors.events import NOTE_MARKER
from plugin.model import Hit

FEEDBACK = (f"{NOTE_MARKER} Internal note drafted by Vigil. Reply `@vigil useful` or "
            "`@vigil wrong` in an internal comment to rate it.")


@dataclass(frozen=True)
class Source:
    """A cited entry as the analyst can open it: a URL when one is known, else its path."""

    title: str
    path: str  # knowledge/<entry id>.md
    url: str = ""

    @property
    def markdown(self) -> str:
        return f"[{_label(self.title)}]({self.url})" if self.url else f"{self.title}: {self.path}"


def source_of(hit: Hit, base_url: str = "") -> Source:
    """The entry's own `sources` URL first, else the knowledge repository's web view + its path."""
    path = f"{hit.entry_id}.md"
    links = [s for s in hit.sources if s.startswith(("http://", "https://"))]
    url = links[0] if links else (f"{base_url.rstrip('/')}/{quote(path)}" if base_url else "")
    return Source(hit.title, f"knowledge/{path}", url)


def render(headline: str, blocks: list[str], sources: list[Source], why: str,
           sources_title: str = "Sources:") -> str:
    """Lay out a note: the headline, its blocks, the sources, why, and the feedback marker."""
    parts = [f"**Vigil:** {headline}", *[b for b in blocks if b.strip()]]
    if sources:
        parts.append(f"{sources_title}\n" + "\n".join(f"- {s.markdown}" for s in sources))
    parts.append(f"Why you see this: {why}")
    parts.append(FEEDBACK)
    return "\n\n".join(parts)


def titled_list(title: str, items: list[str], numbered: bool = False) -> str:
    """A heading line and its list; an item may carry branches as indented "- " lines."""
    if not items:
        return ""
    lines = [f"{title}"] if title else []
    for n, item in enumerate(items, 1):
        lines.append(f"{n}. {item}" if numbered else f"- {item}")
    return "\n".join(lines)


def _label(title: str) -> str:
    return title.replace("[", "(").replace("]", ")")
