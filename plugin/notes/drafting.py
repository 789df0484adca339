"""Draft the internal note for an answer: the model when one is configured, else extractive.

`draft_answer` is the one function that talks to the model. What the model says is
checked before it is used: it must match the JSON schema, cite only entries it was given,
keep to the length budget, and keep Vigil's rules (no asking the customer for more, no
"contact someone", no personal data, nothing from our configuration). Anything else falls
back to the extractive drafter, so a model outage or a bad answer never invents a source.
A model that says the entries do not answer the question is believed: no note.
"""

from __future__ import annotations

import json
import logging
import re
import time
from dataclasses import dataclass
from importlib import resources
from typing import Any

import openai

from connectors.events import NOTE_MARKER, Message

from plugin.model import Hit, ModelCall, Note
from plugin.redaction import findings, redact
from plugin.settings import SECRET_FIELDS, Settings

log = logging.getLogger(__name__)

PROMPT = resources.files("plugin.notes.prompts").joinpath("answer.md").read_text(encoding="utf-8")
PROMPT_VERSION = re.search(r"version (\d+)", PROMPT).group(1)
MAX_ANSWER_CHARS = 300
MAX_STEPS = 5
MAX_STEP_CHARS = 240
MIN_CONFIDENCE = 0.3  # below this the model is saying it does not know
ANSWER_SCHEMA = {
    "name": "vigil_answer", "strict": True,
    "schema": {
        "type": "object", "additionalProperties": False,
        "required": ["answer", "steps", "sources", "confidence"],
        "properties": {"answer": {"type": "string"}, "steps": {"type": "array", "items": {"type": "string"}},
                       "sources": {"type": "array", "items": {"type": "string"}},
                       "confidence": {"type": "number"}},
    },
}
# Vigil's own rules for a proactive answer: the analyst, not the customer, reads it, and it
# must not push work back ("ask the customer for...") or away ("contact support").
_FORBIDDEN = re.compile(r"\bcontact (?:us|support|someone|the|our|your|a)\b|\breach out\b|"
                        r"\bask (?:the customer|them|him|her|the user) (?:for|to)\b|"
                        r"\b(?:could|can|would) you (?:please )?(?:provide|send|share)\b", re.I)
_SENTENCE = re.compile(r"(?<=[.!?])\s+")


@dataclass(frozen=True)
class _Verdict:
    """What the model's reply amounts to: an answer to use, a refusal, or nothing usable."""

    kind: str  # "answer", "refusal" or "invalid"
    answer: str = ""
    steps: tuple[str, ...] = ()
    cited: tuple[str, ...] = ()
    why: str = ""


def draft_answer(conversation: list[Message], hits: list[Hit], why: str, settings: Settings,
                 use_model: bool = True) -> Note | None:
    """Write the note answering the latest question, citing only the given entries."""
    if settings.model_configured and use_model:
        verdict, call = _ask_model(conversation, hits, settings)
        if verdict.kind == "answer":
            chosen = [h for h in hits if h.entry_id in verdict.cited]
            return Note(render(verdict.answer, list(verdict.steps), chosen, why),
                        tuple(h.entry_id for h in chosen), "model", call)
        if verdict.kind == "refusal":
            log.info("model found no answer in the retrieved entries; no note")
            return None
        log.warning("model answer not used (%s); falling back to the extractive drafter", verdict.why)
        return _extractive(hits, why, call)
    return _extractive(hits, why, None)


def _extractive(hits: list[Hit], why: str, call: ModelCall | None) -> Note:
    best = hits[0]
    answer, steps = _extract(best)
    # Cite a runner-up only when it matches about as well: a weak second source is noise.
    cited = [h for h in hits[:2] if h.score >= 0.9 * best.score]
    intro = "From the knowledge base (quoted, not written by a model): "
    return Note(render(intro + answer, steps, cited, why), tuple(h.entry_id for h in cited),
                "extractive", call)


def _extract(hit: Hit) -> tuple[str, list[str]]:
    """The entry's title as the answer line, and its first steps or sentences."""
    lines = [ln.strip() for ln in hit.body.splitlines() if ln.strip()]
    steps = [re.sub(r"^(?:[-*]|\d+[.)])\s+", "", ln) for ln in lines if re.match(r"^(?:[-*]|\d+[.)])\s", ln)]
    if not steps:
        prose = " ".join(ln for ln in lines if not ln.startswith("#"))
        steps = _SENTENCE.split(prose)
    return f"{hit.title}.", [s[:MAX_STEP_CHARS] for s in steps[:MAX_STEPS]]


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


def model_client(settings: Settings) -> openai.OpenAI:
    """The client every model call uses: any OpenAI-compatible endpoint, bounded time, one retry."""
    return openai.OpenAI(api_key=settings.openai_api_key or "not-needed",
                         base_url=settings.openai_base_url or None,
                         timeout=settings.llm_timeout_seconds, max_retries=1)


def as_data(messages: list[Message]) -> list[dict[str, Any]]:
    """A conversation as the model sees it: JSON data, never instructions, with PII redacted."""
    return [{"role": m.author_role, "public": m.public, "text": redact(m.body)} for m in messages]


def _ask_model(conversation: list[Message], hits: list[Hit],
               settings: Settings) -> tuple[_Verdict, ModelCall]:
    """Call the chat-completions API once; judge the reply; account for the tokens."""
    client = model_client(settings)
    knowledge = [{"id": h.entry_id, "title": h.title, "text": h.body} for h in hits]
    thread = as_data(conversation[-8:])
    started = time.monotonic()
    try:
        response = client.chat.completions.create(
            model=settings.llm_model, temperature=0,
            response_format={"type": "json_schema", "json_schema": ANSWER_SCHEMA},
            messages=[{"role": "system", "content": PROMPT},
                      {"role": "user", "content": json.dumps(
                          {"KNOWLEDGE": knowledge, "CONVERSATION": thread}, ensure_ascii=False)}])
        content = response.choices[0].message.content or ""
    except (openai.OpenAIError, IndexError) as exc:
        call = ModelCall(settings.llm_model, PROMPT_VERSION, 0, 0, time.monotonic() - started, "failed")
        return _Verdict("invalid", why=f"the call failed: {type(exc).__name__}"), call
    usage = response.usage
    verdict = judge(content, {h.entry_id for h in hits}, _secrets(settings))
    call = ModelCall(settings.llm_model, PROMPT_VERSION, usage.prompt_tokens if usage else 0,
                     usage.completion_tokens if usage else 0, time.monotonic() - started,
                     "used" if verdict.kind == "answer" else verdict.kind)
    return verdict, call


def _secrets(settings: Settings) -> list[str]:
    return [v for name in SECRET_FIELDS if len(v := str(getattr(settings, name) or "")) >= 6]


def judge(content: str, allowed_ids: set[str], secrets: list[str] = ()) -> _Verdict:
    """Accept the model's JSON only if it is complete, grounded, safe and within budget."""
    try:
        data: Any = json.loads(content)
    except json.JSONDecodeError:
        return _Verdict("invalid", why="not JSON")
    if not isinstance(data, dict):
        return _Verdict("invalid", why="not a JSON object")
    answer, steps, cited = data.get("answer"), data.get("steps", []), data.get("sources")
    confidence = data.get("confidence", 1.0)
    if not isinstance(answer, str) or not isinstance(cited, list) or not isinstance(steps, list) \
            or not all(isinstance(s, str) for s in [*steps, *cited]) \
            or not isinstance(confidence, (int, float)):
        return _Verdict("invalid", why="does not match the schema")
    if not answer.strip() or not cited or confidence < MIN_CONFIDENCE:
        return _Verdict("refusal", why="the model found no answer in the entries")
    text = " ".join([answer, *steps])
    problems = [
        (not set(cited) <= allowed_ids, "cites entries that were not retrieved"),
        (len(answer) > MAX_ANSWER_CHARS or len(steps) > MAX_STEPS
         or any(len(s) > MAX_STEP_CHARS for s in steps), "over the length budget"),
        (bool(_FORBIDDEN.search(text)), "asks for more or sends the analyst elsewhere"),
        (bool(findings(text)), "contains personal data"),
        (any(secret in content for secret in secrets), "contains a configured secret"),
    ]
    failed = [why for bad, why in problems if bad]
    if failed:
        return _Verdict("invalid", why="; ".join(failed))
    return _Verdict("answer", answer.strip(), tuple(s.strip() for s in steps), tuple(cited))
