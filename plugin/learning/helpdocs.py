"""The desk's own help documents: the only links a learned answer keeps.

`learn_help_domains` names them ("help.example.com=Example, example.com/support"); copies
in the web archive count as the page they copy. A link to a contact form is not a help
document: it is "contact us".
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from urllib.parse import urlsplit

LINK = re.compile(r"https?:\s?//[^\s<>\"')\]]+|\bwww\.[^\s<>\"')\]]+")
_ARCHIVE = re.compile(r"^https?://web\.archive\.org/web/\d+\w*/")
CONTACT_FORM = re.compile(r"contact|/requests?/new|/categories(?:/\d+)?(?:[?#]|$)|/support\.html|/s/contacts", re.I)
_URL_NOISE = frozenset("www com org net html htm php aspx hc en us gb article articles answer answers kb s t "
                       "help support community page pages jump".split())


@dataclass(frozen=True)
class HelpDomains:
    """The desk's own help-document domains, each with the brand it belongs to (may be empty).

    From the setting `learn_help_domains`: "help.dropbox.com=Dropbox, support.zoom.us=Zoom,
    www.godaddy.com/help". A domain covers its subdomains; a path narrows it.
    """

    entries: tuple[tuple[str, str, str], ...] = ()  # (host, path prefix, brand)

    @classmethod
    def parse(cls, setting: str) -> "HelpDomains":
        entries = []
        for item in filter(None, (part.strip() for part in setting.split(","))):
            where, _, brand = item.partition("=")
            host, _, path = where.strip().lower().removeprefix("https://").removeprefix("http://").partition("/")
            if not host or " " in host:
                raise ValueError(f"learn_help_domains: {item!r} is not a domain (e.g. help.example.com=Brand)")
            entries.append((host, "/" + path if path else "", brand.strip()))
        return cls(tuple(entries))

    def match(self, url: str) -> tuple[str, str, str] | None:
        parts = urlsplit(url)
        host = (parts.hostname or "").lower()
        for entry in self.entries:
            domain, path, _ = entry
            if (host == domain or host.endswith("." + domain)) and parts.path.lower().startswith(path):
                return entry
        return None

    def brand(self, url: str) -> str:
        found = self.match(url)
        return found[2] if found else ""

    def allows(self, url: str) -> bool:
        """A help document of the desk's own. Unconfigured: a help site or help path, by its look."""
        if self.entries:
            return self.match(url) is not None
        parts = urlsplit(url)
        return bool(re.match(r"(?:help|support|docs|kb|faq|answers)\.", parts.hostname or "")
                    or re.search(r"/(?:help|support|hc|kb|faq|articles?|answer)(?:/|$)", parts.path))


def unwrap(url: str) -> str:
    """The original address of a web-archive copy, without trailing punctuation."""
    return _ARCHIVE.sub("", url.replace("https: //", "https://").replace("http: //", "http://")).rstrip(".,;:!?")


def unarchived(text: str) -> str:
    """The text with web-archive links shown as the addresses they copy."""
    return LINK.sub(lambda m: unwrap(m.group(0)), text)


def links(text: str) -> list[str]:
    """Every link in the text, as its original address."""
    return [unwrap(u) for u in LINK.findall(html.unescape(text))]


def url_words(url: str) -> str:
    """The words of a document's address: "help-with-2-step-verification-issues" says what it is about."""
    parts = urlsplit(url)
    words = re.split(r"[^A-Za-z]+", f"{parts.path} {parts.fragment}")
    return " ".join(w for w in words if len(w) > 2 and w.lower() not in _URL_NOISE)
