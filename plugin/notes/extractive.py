"""The offline answer: an entry's own words, laid out so the analyst can act on them.

The lead sentence says what the entry is about; the condition or option the customer named
(their tier, plan, error, product) comes first and the others fold into one line; the
procedure is kept whole, and when it is longer than the note's budget it stops at a step's
end with a pointer to the rest, never in the middle of a step.
"""

from __future__ import annotations

from plugin.model import Hit
from plugin.notes.entry_parts import STOP_WORDS, EntryParts, Item, first_named, parse, words

MAX_LINES = 16  # lines a note spends on an entry's cases, steps and notes
MAX_ITEM_CHARS = 400  # an item longer than this is cut at a sentence's end
CUSTOMERS_CASE = "the customer's case"


def answer_blocks(hit: Hit, said: str, where: str) -> tuple[str, list[str]]:
    """(the lead, the note's blocks) for an entry, given what the customer said.

    `where` names the entry for "the rest is in ...": a link or a path.
    """
    parts = parse(hit.body)
    heard = words(said)
    budget = MAX_LINES
    steps = _steps(parts, heard)
    step_lines = [n for _, n in steps]
    cases = _cases(parts, heard, budget - min(sum(step_lines), budget))
    budget -= sum(len(b.splitlines()) - 1 for b in cases)
    blocks = [*cases]
    if steps:
        kept, used = [], 0
        for text, lines in steps:
            if used + lines > budget:
                break
            kept.append(text)
            used += lines
        intro = parts.steps_intro if parts.steps_intro and not _same(parts.steps_intro, parts.lead) else "Steps:"
        blocks.append("\n".join([intro, *[f"{i}. {t}" for i, t in enumerate(kept, 1)]]))
        if len(kept) < len(steps):
            rest = f"step {len(kept) + 1}" if len(kept) + 1 == len(steps) else f"steps {len(kept) + 1}-{len(steps)}"
            blocks.append(f"The procedure goes on ({rest} of {len(steps)}) in the entry: {where}")
        budget -= used
    for note in parts.notes:
        if budget <= 0:
            break
        blocks.append(_short(note))
        budget -= 1
    return ("" if _only_the_title(parts.lead, hit.title) else parts.lead), blocks


def _only_the_title(lead: str, title: str) -> bool:
    """ "To change the name on the account." under the title "Change the name on the account"."""
    return words(lead) - STOP_WORDS <= words(title)


def _steps(parts: EntryParts, heard: set[str]) -> list[tuple[str, int]]:
    """Each step as Markdown (its branches indented, the customer's first) and its line count."""
    out = []
    for step in parts.steps:
        named, others = first_named(step.children, heard)
        branches = [_item(c, case=True) for c in named] + [_item(c) for c in others]
        out.append(("\n".join([_short(step.text), *[f"   - {b}" for b in branches]]), 1 + len(branches)))
    return out


def _cases(parts: EntryParts, heard: set[str], room: int) -> list[str]:
    """The condition/option list: the customer's case first, the others folded into one line."""
    if not parts.cases:
        return []
    intro = parts.cases_intro or "In the entry:"
    intro = intro if intro.endswith(":") else intro + ":"
    named, others = first_named(parts.cases, heard)
    if named:
        lines = [_item(c, case=True) for c in named]
        if others:
            lines.append("Also in the entry: " + "; ".join(_brief(c) for c in others) + ".")
    elif len(parts.cases) <= max(room, 1):
        lines = [_item(c) for c in parts.cases]
    else:
        lines = ["In the entry: " + "; ".join(_brief(c) for c in parts.cases) + "."]
    return ["\n".join([intro, *[f"- {line}" for line in lines]])]


def _item(item: Item, case: bool = False) -> str:
    if not item.label:
        return _short(item.text) + (f" ({CUSTOMERS_CASE})" if case else "")
    mark = f" ({CUSTOMERS_CASE})" if case else ""
    return f"**{item.label}**{mark}: {_short(item.rest)}"


def _brief(item: Item) -> str:
    return item.label or " ".join(item.text.split()[:6]) + "..."


def _short(text: str) -> str:
    if len(text) <= MAX_ITEM_CHARS:
        return text
    cut = text[:MAX_ITEM_CHARS]
    end = max(cut.rfind(". "), cut.rfind("; "))
    return (cut[:end + 1] if end > MAX_ITEM_CHARS // 2 else cut.rsplit(" ", 1)[0]) + " ..."


def _same(a: str, b: str) -> bool:
    return a.rstrip(":. ").lower() == b.rstrip(":. ").lower()
