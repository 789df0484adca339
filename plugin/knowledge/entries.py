"""Knowledge entries: Markdown files with YAML front matter under knowledge/.

The id of an entry is its path under knowledge/ without `.md`. Files whose name is all
capitals (README.md, PROVENANCE.md) document the folder and are not entries.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from itertools import combinations
from pathlib import Path
from typing import Iterator

import yaml

NEAR_DUPLICATE = 0.8  # body word overlap from which two entries may say the same thing...
SAME_TOPIC = 0.6  # ...when their titles overlap this much too (templates share wording)


class KnowledgeError(ValueError):
    """A knowledge file cannot be read; the message names the file and the problem."""


@dataclass(frozen=True)
class Entry:
    id: str
    title: str
    body: str
    tags: tuple[str, ...] = ()
    products: tuple[str, ...] = ()
    sources: tuple[str, ...] = ()


def entry_paths(root: Path) -> Iterator[Path]:
    for path in sorted(Path(root).rglob("*.md")):
        if not path.stem.isupper():
            yield path


def entry_id(root: Path, path: Path) -> str:
    return path.relative_to(root).with_suffix("").as_posix()


def parse_entry(entry_id_: str, text: str) -> Entry:
    """Split front matter from the body and validate it; raise KnowledgeError if wrong."""
    if not text.startswith("---"):
        raise KnowledgeError(f"{entry_id_}: missing YAML front matter (a first line `---`)")
    parts = text.split("\n---", 1)
    if len(parts) != 2:
        raise KnowledgeError(f"{entry_id_}: front matter is not closed by a `---` line")
    try:
        meta = yaml.safe_load(parts[0][3:]) or {}
    except yaml.YAMLError as exc:
        raise KnowledgeError(f"{entry_id_}: front matter is not valid YAML: {exc}") from None
    if not isinstance(meta, dict):
        raise KnowledgeError(f"{entry_id_}: front matter must be a mapping")
    title = meta.get("title")
    if not isinstance(title, str) or not title.strip():
        raise KnowledgeError(f"{entry_id_}: front matter needs a `title`")
    lists = {}
    for key in ("tags", "products", "sources"):
        value = meta.get(key) or []
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise KnowledgeError(f"{entry_id_}: `{key}` must be a list of strings")
        lists[key] = tuple(value)
    body = parts[1].split("\n", 1)[1].strip() if "\n" in parts[1] else ""
    return Entry(entry_id_, title.strip(), body, **lists)


def load_entry(root: Path, path: Path) -> Entry:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise KnowledgeError(f"{entry_id(root, path)}: cannot read: {exc}") from None
    return parse_entry(entry_id(root, path), text)


def similarity(a: str, b: str) -> float:
    """Word overlap (Jaccard) of two texts: near-duplicate entries, repeated notes."""
    wa, wb = set(re.findall(r"[a-z0-9]{3,}", a.lower())), set(re.findall(r"[a-z0-9]{3,}", b.lower()))
    return len(wa & wb) / len(wa | wb) if wa and wb else 0.0


def near_duplicates(title_a: str, body_a: str, title_b: str, body_b: str) -> float:
    """The body overlap of two entries about the same topic, else 0.0."""
    if similarity(title_a, title_b) < SAME_TOPIC:
        return 0.0
    score = similarity(body_a, body_b)
    return score if score >= NEAR_DUPLICATE else 0.0


@dataclass(frozen=True)
class Finding:
    entry: str
    problem: str

    def __str__(self) -> str:
        return f"{self.entry}: {self.problem}"


def check_knowledge(root: Path) -> tuple[int, list[Finding]]:
    """Read every entry; report malformed files, entries without a source, and duplicates.

    Pairs are compared all against all, which is fine for thousands of entries; a base of
    100,000 would want a locality-sensitive hash first.
    """
    root = Path(root)
    entries, findings = [], []
    for path in entry_paths(root):
        try:
            entries.append(load_entry(root, path))
        except KnowledgeError as exc:
            findings.append(Finding(entry_id(root, path), str(exc).split(": ", 1)[-1]))
    for entry in entries:
        if not entry.sources:
            findings.append(Finding(entry.id, "no `sources`: say where this knowledge comes from"))
    for a, b in combinations(entries, 2):
        if a.title.strip().lower() == b.title.strip().lower():
            findings.append(Finding(a.id, f"same title as {b.id}"))
        elif score := near_duplicates(a.title, a.body, b.title, b.body):
            findings.append(Finding(a.id, f"near-duplicate of {b.id} (word overlap {score:.2f})"))
    return len(entries), findings
