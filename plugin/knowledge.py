"""Knowledge entries: Markdown files with YAML front matter under knowledge/.

The id of an entry is its path under knowledge/ without `.md`. Files whose name is all
capitals (README.md, PROVENANCE.md) document the folder and are not entries.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import yaml


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
