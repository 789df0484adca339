"""Draft the internal note for an answer: the model when one is configured, else extractive.

`draft_answer` is the one function that talks to the model. Whatever the model says is
checked before it is used (valid JSON, non-empty answer, citations that are real retrieved
ids, within the length budget); anything else falls back to the extractive drafter, so a
model outage or a bad answer never stops a note and never invents a source.
"""

from __future__ import annotations

import json
import logging
import re
from importlib import resources
from typing import Any

import openai

from plugin.model import NOTE_MARKER, Hit, Message, Note
from plugin.redaction import redact
from plugin.settings import Settings

log = logging.getLogger(__name__)

PROMPT = resources.files("plugin.prompts").joinpath("answer.md").read_text(encoding="utf-8")
PROMPT_VERSION = re.search(r"version (\d+)", PROMPT).group(1)
MAX_ANSWER_CHARS = 300
MAX_STEPS = 5
_SENTENCE = re.compile(r"(?<=[.!?])\s+")


def draft_answer(conversation: list[Message], hits: list[Hit], why: str,
                 settings: Settings) -> Note:
    """Write the note answering the latest question, citing only the given entries."""
    if settings.model_configured:
        drafted = _ask_model(conversation, hits, settings)
        if drafted:
            answer, steps, cited = drafted
            chosen = [h for h in hits if h.entry_id in cited]
            return Note(render(answer, steps, chosen, why), tuple(h.entry_id for h in chosen), "model")
    best = hits[0]
    answer, steps = _extract(best)
    # Cite a runner-up only when it matches about as well: a weak second source is noise.
    cited = [h for h in hits[:2] if h.score >= 0.9 * best.score]
    intro = "From the knowledge base (quoted, not written by a model): "
    return Note(render(intro + answer, steps, cited, why), tuple(h.entry_id for h in cited),
                "extractive")


def _extract(hit: Hit) -> tuple[str, list[str]]:
    """The entry's title as the answer line, and its first steps or sentences."""
    lines = [ln.strip() for ln in hit.body.splitlines() if ln.strip()]
    steps = [re.sub(r"^(?:[-*]|\d+[.)])\s+", "", ln) for ln in lines if re.match(r"^(?:[-*]|\d+[.)])\s", ln)]
    if not steps:
        prose = " ".join(ln for ln in lines if not ln.startswith("#"))
        steps = _SENTENCE.split(prose)
    return f"{hit.title}.", [s[:240] for s in steps[:MAX_STEPS]]


def render(answer: str, steps: list[str], hits: list[Hit], why: str) -> str:
    """Lay out a note: answer line, steps, sources, why, and the feedback marker."""
    parts = [f"**Vigil:** {answer}"]
    if steps:
        parts.append("\n".join(f"{i}. {s}" for i, s in enumerate(steps, 1)))
    sources = []
    for hit in hits:
        links = [s for s in hit.sources if s.startswith(("http://", "https://"))]
        sources.append(f"- {hit.title}: knowledge/{hit.entry_id}.md"
                       + (f" ({', '.join(links)})" if links else ""))
    if sources:
        parts.append("Sources:\n" + "\n".join(sources))
    parts.append(f"Why you see this: {why}")
    parts.append(f"{NOTE_MARKER} Internal note drafted by Vigil. Reply `@vigil useful` or "
                 "`@vigil wrong` in an internal comment to rate it.")
    return "\n\n".join(parts)


def _ask_model(conversation: list[Message], hits: list[Hit],
               settings: Settings) -> tuple[str, list[str], list[str]] | None:
    """Call the chat-completions API; return (answer, steps, cited ids) or None to fall back."""
    client = openai.OpenAI(api_key=settings.openai_api_key or "not-needed",
                           base_url=settings.openai_base_url or None,
                           timeout=settings.llm_timeout_seconds, max_retries=1)
    knowledge = [{"id": h.entry_id, "title": h.title, "text": h.body} for h in hits]
    # Customer text goes in as JSON data, redacted: never as instructions, never with PII.
    thread = [{"role": m.author_role, "public": m.public, "text": redact(m.body)}
              for m in conversation[-8:]]
    try:
        response = client.chat.completions.create(
            model=settings.llm_model, temperature=0,
            response_format={"type": "json_object"},
            messages=[{"role": "system", "content": PROMPT},
                      {"role": "user", "content": json.dumps(
                          {"KNOWLEDGE": knowledge, "CONVERSATION": thread}, ensure_ascii=False)}])
        content = response.choices[0].message.content or ""
    except (openai.OpenAIError, IndexError) as exc:
        log.warning("model call failed, using the extractive drafter: %s", type(exc).__name__)
        return None
    return validate_answer(content, {h.entry_id for h in hits})


def validate_answer(content: str, allowed_ids: set[str]) -> tuple[str, list[str], list[str]] | None:
    """Accept the model's JSON only if it is complete, grounded and within budget."""
    try:
        data: Any = json.loads(content)
    except json.JSONDecodeError:
        log.warning("model answer is not JSON; falling back")
        return None
    if not isinstance(data, dict):
        return None
    answer, steps, cited = data.get("answer"), data.get("steps") or [], data.get("sources")
    if not isinstance(answer, str) or not answer.strip() or len(answer) > MAX_ANSWER_CHARS:
        log.warning("model answer is empty or too long; falling back")
        return None
    if not isinstance(steps, list) or len(steps) > MAX_STEPS or not all(isinstance(s, str) for s in steps):
        return None
    if not isinstance(cited, list) or not cited or not set(cited) <= allowed_ids:
        log.warning("model cited ids that were not retrieved; falling back")
        return None
    return answer.strip(), [s.strip() for s in steps], cited
