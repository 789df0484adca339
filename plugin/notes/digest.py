"""What a ticket is about, for a summary or a hand-over brief: problem, done, open, next steps.

With a model configured, the model drafts it under the same guardrails as answers: the
conversation goes out redacted and as data, the reply must match the JSON schema, keep to
the budget, carry no personal data or configured secret, and say only what the
conversation says (each line's words are found in it); otherwise, and without a model, the
extractive reading of the thread (plugin.decision.thread) writes it.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass, replace
from importlib import resources
from typing import Any, Sequence

from plugin.decision import thread
from connectors.events import Message
from plugin.model import ModelCall
from plugin.notes.drafting import as_data, chat, secrets_of
from plugin.notes.layout import titled_list
from plugin.redaction import findings, redact
from plugin.settings import Settings

log = logging.getLogger(__name__)

PROMPT = resources.files("plugin.notes.prompts").joinpath("digest.md").read_text(encoding="utf-8")
PROMPT_VERSION = re.search(r"version (\d+)", PROMPT).group(1)  # type: ignore[union-attr]
MAX_LINE_CHARS = 240
MAX_ITEMS = 4
OWNERS = ("analyst", "customer")
_OWNERS = {"analyst": "Analyst to do", "customer": "Waiting on the customer"}
_LINES = {"type": "array", "items": {"type": "string"}}
DIGEST_SCHEMA = {
    "name": "vigil_digest", "strict": True,
    "schema": {
        "type": "object", "additionalProperties": False,
        "required": ["problem", "done", "open", "next_steps"],
        "properties": {
            "problem": {"type": "string"}, "done": _LINES, "open": _LINES,
            "next_steps": {"type": "array", "items": {
                "type": "object", "additionalProperties": False, "required": ["owner", "text"],
                "properties": {"owner": {"type": "string", "enum": list(OWNERS)}, "text": {"type": "string"}}}},
        },
    },
}
_CONTENT_WORD = re.compile(r"[a-z0-9]{4,}")


@dataclass(frozen=True)
class Digest:
    problem: str
    done: tuple[str, ...] = ()
    open: tuple[str, ...] = ()
    next_steps: tuple[tuple[str, str], ...] = ()  # (owner, what)

    def blocks(self, with_owners: bool = False) -> list[str]:
        out = [f"Problem: {self.problem}",
               titled_list("Done so far:", list(self.done)),
               titled_list("Still open:", list(self.open))]
        if with_owners:
            out.append(titled_list("Next steps:", [f"{_OWNERS[owner]}: {what}" for owner, what in self.next_steps]))
        return out


def excerpt(text: str, limit: int = 160) -> str:
    """A short excerpt, redacted like text sent to a model."""
    text = " ".join(redact(text).split())
    return f"\u201c{text if len(text) <= limit else text[:limit - 3] + '...'}\u201d"


def digest(conversation: list[Message], subject: str, settings: Settings,
           use_model: bool = True) -> tuple[Digest, ModelCall | None]:
    """The ticket's digest, by the model when allowed and its reply passes, else extractive."""
    if not (settings.model_configured and use_model):
        return extractive(conversation, subject), None
    thread_data = as_data(conversation[-20:])
    payload = {"SUBJECT": redact(subject), "CONVERSATION": thread_data}
    content, call = chat(settings, PROMPT, PROMPT_VERSION, DIGEST_SCHEMA, payload)
    if content is None:
        return extractive(conversation, subject), call
    known = " ".join([redact(subject), *(m["text"] for m in thread_data)])
    drafted, why = judge(content, known, secrets_of(settings))
    if drafted is None:
        log.warning("model digest not used (%s); falling back to the extractive reading", why)
        return extractive(conversation, subject), replace(call, outcome="invalid")
    return drafted, replace(call, outcome="used")


def extractive(conversation: list[Message], subject: str) -> Digest:
    return Digest(excerpt(thread.problem(conversation, subject), 200),
                  tuple(excerpt(s) for s in thread.done(conversation)[-3:]),
                  tuple(excerpt(q) for q in thread.open_questions(conversation)[-2:]),
                  tuple((owner, excerpt(s)) for owner, s in thread.next_steps(conversation)[-3:]))


def judge(content: str, conversation_text: str, secrets: Sequence[str] = ()) -> tuple[Digest | None, str]:
    """The model's digest if it is complete, within budget, clean and grounded; else why not."""
    try:
        data: Any = json.loads(content)
    except json.JSONDecodeError:
        return None, "not JSON"
    lines = _lines(data)
    if lines is None:
        return None, "does not match the schema"
    problem, done, open_, steps = lines
    every = [problem, *done, *open_, *(t for _, t in steps)]
    heard = set(_CONTENT_WORD.findall(conversation_text.lower()))
    problems = [
        (not problem.strip(), "no problem stated"),
        (any(len(s) > MAX_LINE_CHARS for s in every) or max(len(done), len(open_), len(steps)) > MAX_ITEMS,
         "over the length budget"),
        (any(findings(s) for s in every), "contains personal data"),
        (any(secret in content for secret in secrets), "contains a configured secret"),
        (not all(_grounded(s, heard) for s in every), "says what the conversation does not"),
    ]
    failed = [why for bad, why in problems if bad]
    if failed:
        return None, "; ".join(failed)
    return Digest(problem.strip(), tuple(done), tuple(open_), tuple(steps)), ""


def _lines(data: Any) -> tuple[str, list[str], list[str], list[tuple[str, str]]] | None:
    if not isinstance(data, dict):
        return None
    problem, done, open_, steps = (data.get(k) for k in ("problem", "done", "open", "next_steps"))
    if not isinstance(problem, str) or not isinstance(done, list) or not isinstance(open_, list) \
            or not all(isinstance(s, str) for s in [*done, *open_]):
        return None
    if not isinstance(steps, list) or not all(isinstance(s, dict) and s.get("owner") in OWNERS
                                              and isinstance(s.get("text"), str) for s in steps):
        return None
    return problem, [s.strip() for s in done if s.strip()], [s.strip() for s in open_ if s.strip()], \
        [(s["owner"], s["text"].strip()) for s in steps if s["text"].strip()]


def _grounded(line: str, heard: set[str]) -> bool:
    """At least half of the line's content words occur in the conversation: no invented facts."""
    said = set(_CONTENT_WORD.findall(line.lower()))
    return not said or len(said & heard) * 2 >= len(said)

