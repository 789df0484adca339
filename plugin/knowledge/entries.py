"""Knowledge entries: Markdown files with YAML front matter under knowledge/.

The id of an entry is its path under knowledge/ without `.md`. Files whose name is all
capitals (README.md, PROVENANCE.md) document the folder and are not entries.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from itertools import combinations
from pathlib import Path
from typing import Iterator

import yaml

# libyaml's parser when PyYAML was built with it: ten times faster than the pure-Python one,
# which was half of building an index. Errors are reported by the pure-Python parser (see
# _front_matter), so the messages and the fixes suggested stay the same either way.
_FAST_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

NEAR_DUPLICATE = 0.8  # body word overlap from which two entries may say the same thing...
SAME_TOPIC = 0.6  # ...when their titles overlap this much too (templates share wording)


@dataclass(frozen=True)
class Finding:
    """A problem with one knowledge entry: where it is and how to fix it."""

    entry: str
    problem: str
    line: int | None = None  # in the file, counted from 1
    fix: str = ""

    def __str__(self) -> str:
        return (f"{self.entry}: {self.problem}" + (f" at line {self.line}" if self.line else "")
                + (f". Fix: {self.fix}" if self.fix else ""))


class KnowledgeError(ValueError):
    """A knowledge file cannot be read; `finding` names the file, the line and the fix."""

    def __init__(self, finding: Finding):
        super().__init__(str(finding))
        self.finding = finding


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
    # The paths entry_paths yields start with the root as written: cutting strings is the same
    # answer as relative_to, without its cost (noticeable once per entry at 100,000 entries).
    text, prefix = str(path), f"{root}/"
    if text.startswith(prefix) and path.suffix == ".md" and "\\" not in text:
        return text[len(prefix):-3]
    return path.relative_to(root).with_suffix("").as_posix()


def parse_entry(entry_id_: str, text: str) -> Entry:
    """Split front matter from the body and validate it; raise KnowledgeError if wrong.

    Files are read as people write them: `tags: [api, 429]` (YAML reads 429 as a number),
    `tags: api, billing` (one string) and a lone scalar all become lists of strings.
    The front matter is read by libyaml and, if it refuses it, by the pure-Python loader,
    whose error messages and marks the fixes are written for (_front_matter).
    """
    def fail(problem: str, fix: str, line: int | None = None) -> KnowledgeError:
        return KnowledgeError(Finding(entry_id_, problem, line, fix))

    text = text.lstrip("\ufeff")  # the byte-order mark some editors put first
    if not text.startswith("---"):
        raise fail("missing YAML front matter (a first line `---`)",
                   "start the file with a line `---`, then `title: ...`, then a line `---`", 1)
    parts = text.split("\n---", 1)
    if len(parts) != 2:
        raise fail("front matter is not closed by a `---` line",
                   "end the front matter with a line `---` before the text", 1)
    front = parts[0][3:]
    try:
        meta = _front_matter(front)
    except yaml.YAMLError as exc:
        line, fix = _yaml_fix(exc, front.split("\n"))
        reason = getattr(exc, "problem", None) or "invalid YAML"
        raise fail(f"front matter is not valid YAML ({reason})", fix, line) from None
    if not isinstance(meta, dict):
        raise fail("front matter must be a mapping", "write `key: value` lines between the `---` lines", 2)
    title = meta.get("title")
    title = _text(title) if _scalar(title) else title
    if not isinstance(title, str) or not title.strip():
        raise fail("front matter needs a `title`", "add a line `title: ...` to the front matter")
    lists = {key: _strings(key, meta.get(key), split=key != "sources", fail=fail)
             for key in ("tags", "products", "sources")}
    body = parts[1].split("\n", 1)[1].strip() if "\n" in parts[1] else ""
    return Entry(entry_id_, title.strip(), body, **lists)


def _front_matter(front: str) -> object:
    """The front matter parsed; a YAMLError from the pure-Python parser if it is not valid."""
    try:
        return yaml.load(front, Loader=_FAST_LOADER) or {}
    except yaml.YAMLError:
        return yaml.safe_load(front) or {}  # its error, or a value if only libyaml refused it


def _scalar(value: object) -> bool:
    return isinstance(value, (str, int, float, bool, date))


def _text(value: object) -> str:
    """A YAML scalar as the person wrote it: 429, true, 2024-05-01."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return value.isoformat() if isinstance(value, date) else str(value)


def _strings(key: str, value: object, split: bool, fail) -> tuple[str, ...]:
    """A list of strings from a list, a lone scalar, or (for tags and products) `a, b`."""
    if value is None:
        return ()
    if isinstance(value, str) and split:
        items: list = value.split(",")
    elif _scalar(value):
        items = [value]
    elif isinstance(value, list) and all(_scalar(v) for v in value if v is not None):
        items = [v for v in value if v is not None]
    else:
        raise fail(f"`{key}` must be a list of words, not of lists or mappings",
                   f"write `{key}: [first, second]` or `{key}: first, second`")
    return tuple(t for t in (_text(v).strip() for v in items) if t)


def _yaml_fix(exc: yaml.YAMLError, lines: list[str]) -> tuple[int | None, str]:
    """The file line of a YAML error and what to change there.

    The front matter starts on the file's first line, after its `---`: its line n (from 0)
    is the file's line n + 1.
    """
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None) or ""
    if "end of stream" in problem and getattr(exc, "context_mark", None):
        mark = getattr(exc, "context_mark")  # an unclosed quote or bracket: point at where it was opened
    if mark is None:
        return None, "check the YAML syntax of the front matter"
    source = lines[mark.line] if mark.line < len(lines) else ""
    key = re.match(r"\s*([\w-]+)\s*:", source)
    name = f"the {key.group(1)}" if key else "the value"
    if "mapping values are not allowed" in problem:
        fix = f"quote {name}: it contains a colon ({key.group(1) if key else 'key'}: \"...: ...\")"
    elif "'\\t'" in problem:
        fix = "indent with spaces: YAML does not allow tabs"
    elif "end of stream" in problem or "expected ',' or ']'" in problem:
        fix = f"close the quote or bracket opened here, or quote {name}"
    elif "cannot start any token" in problem or "alphabetic or numeric" in problem:
        fix = f"quote {name}: it starts with a character YAML reserves (@ ` * & ! % |)"
    else:
        fix = f"quote {name}, or check the YAML syntax of this line"
    return mark.line + 1, fix


def load_entry(root: Path, path: Path) -> Entry:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise KnowledgeError(Finding(entry_id(root, path), f"cannot read: {exc}",
                                     fix="save the file as UTF-8 text")) from None
    return parse_entry(entry_id(root, path), text)


def similarity(a: str, b: str) -> float:
    """Word overlap (Jaccard) of two texts: near-duplicate entries, repeated notes."""
    wa, wb = _word_set(a), _word_set(b)
    return len(wa & wb) / len(wa | wb) if wa and wb else 0.0


@lru_cache(maxsize=256)
def _word_set(text: str) -> frozenset[str]:
    # Every search compares its hits' titles: the entries found often are read once, not each time.
    return frozenset(re.findall(r"[a-z0-9]{3,}", text.lower()))


def near_duplicates(title_a: str, body_a: str, title_b: str, body_b: str) -> float:
    """The body overlap of two entries about the same topic, else 0.0."""
    if similarity(title_a, title_b) < SAME_TOPIC:
        return 0.0
    score = similarity(body_a, body_b)
    return score if score >= NEAR_DUPLICATE else 0.0


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
            findings.append(exc.finding)
    for entry in entries:
        if not entry.sources:
            findings.append(Finding(entry.id, "no `sources`: say where this knowledge comes from"))
    for a, b in combinations(entries, 2):
        if a.title.strip().lower() == b.title.strip().lower():
            findings.append(Finding(a.id, f"same title as {b.id}"))
        elif score := near_duplicates(a.title, a.body, b.title, b.body):
            findings.append(Finding(a.id, f"near-duplicate of {b.id} (word overlap {score:.2f})"))
    return len(entries), findings
