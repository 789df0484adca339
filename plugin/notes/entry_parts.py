"""A knowledge entry read as an analyst reads it: what it is about, its cases, its procedure.

Entries are written as people write help articles: a lead paragraph, perhaps a list of
conditions or options ("Gold: unlimited returns."), a numbered procedure whose steps may
branch ("- Order Received: ..."), and notes after it. A note that turns every list item
into a step and stops at five loses the procedure; this module keeps the parts apart so a
note can keep the procedure whole and put the customer's own case first.

Pure functions; every pattern here is linear (no nested or overlapping quantifiers).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

_ITEM = re.compile(r"(\s*)(?:(\d{1,3})[.)]|[-*+])\s+(\S.*)")
_HEADING = re.compile(r"#{1,6}\s+(.*)")
_SENTENCE = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9\"(])")
_WORD = re.compile(r"[a-z0-9]+")
# Words too common to tell one case from another ("in", "or" in "In Transit or Delivered").
STOP_WORDS = frozenset("a an and or the of to in on for with by at is are be it its this that when".split())


@dataclass(frozen=True)
class Item:
    """One list item: "Silver: within 6 months" has the label "Silver"; branches nest."""

    text: str
    label: str = ""
    children: tuple["Item", ...] = ()

    @property
    def rest(self) -> str:
        """The item without its label."""
        return self.text[len(self.label) + 1:].strip() if self.label else self.text


@dataclass(frozen=True)
class EntryParts:
    lead: str = ""  # what the entry is about: its opening sentence(s)
    cases_intro: str = ""  # the line that opens the condition/option list
    cases: tuple[Item, ...] = ()
    steps_intro: str = ""  # "Steps:" or the line that opens the procedure
    steps: tuple[Item, ...] = ()
    notes: tuple[str, ...] = ()  # prose after the lists: exceptions, cross-references


def parse(body: str) -> EntryParts:
    """Split an entry's Markdown body into its parts (see EntryParts)."""
    blocks: list[list] = []  # ["prose", text], ["heading", text] or ["list", items, numbered]
    for raw in body.splitlines():
        line = raw.rstrip()
        item = _ITEM.fullmatch(line)
        last = blocks[-1] if blocks else None
        if not line.strip():
            if last and last[0] == "prose":
                blocks.append(["gap"])
        elif item:
            indent, numbered, text = len(item.group(1).expandtabs(4)), bool(item.group(2)), item.group(3).strip()
            if last and last[0] == "list" and indent >= 2:  # a branch of the item above
                parent = last[1][-1]
                last[1][-1] = replace(parent, children=parent.children + (_item(text),))
            elif last and last[0] == "list" and last[2] == numbered:
                last[1].append(_item(text))
            else:
                blocks.append(["list", [_item(text)], numbered])
        elif last and last[0] == "list" and raw[:1].isspace():  # a wrapped item goes on
            _continue(last[1], line.strip())
        else:
            heading = _HEADING.fullmatch(line.strip())
            if heading:  # a section title: it may open a list, it is never the lead
                blocks.append(["heading", heading.group(1).rstrip(":") + ":"])
            elif last and last[0] == "prose":
                last[1] += " " + line.strip()
            else:
                blocks.append(["prose", line.strip()])
    return _assemble([b for b in blocks if b[0] != "gap"])


def _continue(items: list[Item], more: str) -> None:
    last = items[-1]
    if last.children:
        child = last.children[-1]
        items[-1] = replace(last, children=last.children[:-1] + (_item(f"{child.text} {more}"),))
    else:
        items[-1] = _item(f"{last.text} {more}")


def _assemble(blocks: list[list]) -> EntryParts:
    parts: dict = {"notes": []}
    lead, seen_list = "", False
    for i, block in enumerate(blocks):
        if block[0] == "heading":
            continue
        if block[0] == "list":
            seen_list, intro = True, ""
            before = blocks[i - 1] if i else None
            if before and before[1].endswith(":"):
                intro = _SENTENCE.split(before[1])[-1]
            if block[2] and "steps" not in parts:
                parts["steps_intro"], parts["steps"] = intro, tuple(block[1])
            elif block[2]:
                parts["steps"] += tuple(block[1])  # a second numbered list goes on with the procedure
            elif "cases" not in parts:
                parts["cases_intro"], parts["cases"] = intro, tuple(block[1])
            else:
                parts["cases"] += tuple(block[1])
            continue
        sentences = _SENTENCE.split(block[1])
        opens_list = i + 1 < len(blocks) and blocks[i + 1][0] == "list" and block[1].endswith(":")
        said = sentences[:-1] if opens_list else sentences
        if not lead and not seen_list:  # the opening prose says what the entry is about
            lead = " ".join(said) if said else (sentences[0][:-1] + "." if len(sentences[0].split()) > 3 else "")
        elif said:
            parts["notes"].append(" ".join(said))
    lead = lead[:-1] + "." if lead.endswith(":") else lead
    return EntryParts(lead=lead, cases_intro=parts.get("cases_intro", ""), cases=parts.get("cases", ()),
                      steps_intro=parts.get("steps_intro", ""), steps=parts.get("steps", ()),
                      notes=tuple(parts["notes"]))


def _item(text: str) -> Item:
    label, colon, rest = text.partition(":")
    if colon and rest.strip() and 0 < len(label.split()) <= 8 and not re.search(r"[.!?]", label):
        return Item(text, label.strip())
    return Item(text)


# -- the customer's case -------------------------------------------------------------------

def words(text: str) -> set[str]:
    """Lower-case words, plural "s" dropped, so "guests" names the case "Guest"."""
    return {w[:-1] if len(w) > 3 and w.endswith("s") and not w.endswith("ss") else w
            for w in _WORD.findall(text.lower())}


def names(item: Item, said: set[str]) -> bool:
    """The customer's words name this case: every word of one of its label's alternatives."""
    if not item.label:
        return False
    for alternative in re.split(r",|/|\bor\b|\band\b", item.label, flags=re.I):
        wanted = words(alternative) - STOP_WORDS
        if wanted and wanted <= said:
            return True
    return False


def first_named(items: tuple[Item, ...], said: set[str]) -> tuple[list[Item], list[Item]]:
    """(the items the customer names, the others), each in the entry's order."""
    named = [i for i in items if names(i, said)]
    return named, [i for i in items if i not in named]

