"""Draft the internal note for an answer: the model when one is configured, else extractive.

`chat` is the one function that talks to the model (answers here, digests in
plugin.notes.digest). What the model says is checked before it is used: it must match the
JSON schema, cite only entries it was given, keep to the length budget, and keep Vigil's
rules (no asking the customer for more, no "contact someone", no personal data, nothing
from our configuration). Anything else falls back to the extractive drafter, so a model
outage or a bad answer never invents a source. A model that says the entries do not answer
the question is believed: no note. Both drafters share one layout (plugin.notes.layout):
the customer's case first, then the procedure.
"""

from __future__ import annotations

import json
import logging
import re
import time
from dataclasses import dataclass, replace
from importlib import resources
from typing import Any, Sequence

import openai

from connectors.events import Message
from plugin.model import Hit, ModelCall, Note
from plugin.notes.extractive import answer_blocks
from plugin.notes.layout import render, source_of
from plugin.redaction import findings, redact
from plugin.settings import SECRET_FIELDS, Settings

log = logging.getLogger(__name__)

PROMPT = resources.files("plugin.notes.prompts").joinpath("answer.md").read_text(encoding="utf-8")
PROMPT_VERSION = re.search(r"version (\d+)", PROMPT).group(1)  # type: ignore[union-attr]
MAX_ANSWER_CHARS = 300
MAX_CASE_CHARS = 300
MAX_STEPS = 10  # a procedure is kept whole: the entries' longest has 6
MAX_STEP_CHARS = 300
MIN_CONFIDENCE = 0.3  # below this the model is saying it does not know
EXTRACTIVE = "From the knowledge base (quoted, not written by a model):"
ANSWER_SCHEMA = {
    "name": "vigil_answer", "strict": True,
    "schema": {
        "type": "object", "additionalProperties": False,
        "required": ["answer", "case", "steps", "sources", "confidence"],
        "properties": {"answer": {"type": "string"}, "case": {"type": "string"},
                       "steps": {"type": "array", "items": {"type": "string"}},
                       "sources": {"type": "array", "items": {"type": "string"}},
                       "confidence": {"type": "number"}},
    },
}
# Vigil's own rules for a proactive answer: the analyst, not the customer, reads it, and it
# must not push work back ("ask the customer for...") or away ("contact support").
_FORBIDDEN = re.compile(r"\bcontact (?:us|support|someone|the|our|your|a)\b|\breach out\b|"
                        r"\bask (?:the customer|them|him|her|the user) (?:for|to)\b|"
                        r"\b(?:could|can|would) you (?:please )?(?:provide|send|share)\b", re.I)


@dataclass(frozen=True)
class _Verdict:
    """What the model's reply amounts to: an answer to use, a refusal, or nothing usable."""

    kind: str  # "answer", "refusal" or "invalid"
    answer: str = ""
    steps: tuple[str, ...] = ()
    cited: tuple[str, ...] = ()
    why: str = ""
    case: str = ""


def draft_answer(conversation: list[Message], hits: list[Hit], why: str, settings: Settings,
                 use_model: bool = True) -> Note | None:
    """Write the note answering the latest question, citing only the given entries."""
    if settings.model_configured and use_model:
        verdict, call = _ask_model(conversation, hits, settings)
        if verdict.kind == "answer":
            chosen = [h for h in hits if h.entry_id in verdict.cited]
            blocks = [f"The customer's case: {verdict.case}" if verdict.case else "",
                      "Steps:\n" + "\n".join(f"{i}. {s}" for i, s in enumerate(verdict.steps, 1))
                      if verdict.steps else ""]
            sources = [source_of(h, settings.knowledge_url) for h in chosen]
            return Note(render(verdict.answer, blocks, sources, why), tuple(h.entry_id for h in chosen),
                        "model", call)
        if verdict.kind == "refusal":
            log.info("model found no answer in the retrieved entries; no note")
            return None
        log.warning("model answer not used (%s); falling back to the extractive drafter", verdict.why)
        return _extractive(conversation, hits, why, settings, call)
    return _extractive(conversation, hits, why, settings, None)


def _extractive(conversation: list[Message], hits: list[Hit], why: str, settings: Settings,
                call: ModelCall | None) -> Note:
    best = hits[0]
    # Cite a runner-up only when it matches about as well: a weak second source is noise.
    cited = [h for h in hits[:2] if h.score >= 0.9 * best.score]
    sources = [source_of(h, settings.knowledge_url) for h in cited]
    lead, blocks = answer_blocks(best, _what_was_said(conversation), sources[0].url or sources[0].path)
    headline = f"{EXTRACTIVE} **{best.title.rstrip('.')}.** {lead}".rstrip()
    return Note(render(headline, blocks, sources, why), tuple(h.entry_id for h in cited), "extractive", call)


def _what_was_said(conversation: list[Message]) -> str:
    """The latest message and the customer's message before it: where their case is named."""
    latest = conversation[-1:] if conversation else []
    earlier = [m for m in conversation[:-1] if m.author_role == "customer"][-1:]
    return " ".join(m.body[:4000] for m in [*earlier, *latest])


def model_client(settings: Settings) -> openai.OpenAI:
    """The client every model call uses: any OpenAI-compatible endpoint, bounded time, one retry."""
    return openai.OpenAI(api_key=settings.openai_api_key or "not-needed",
                         base_url=settings.openai_base_url or None,
                         timeout=settings.llm_timeout_seconds, max_retries=1)


def as_data(messages: list[Message]) -> list[dict[str, Any]]:
    """A conversation as the model sees it: JSON data, never instructions, with PII redacted."""
    return [{"role": m.author_role, "public": m.public, "text": redact(m.body)} for m in messages]


# (base URL, model) of servers that answered a JSON schema with 400 but take JSON mode.
_JSON_MODE_ONLY: set[tuple[str, str]] = set()


def chat(settings: Settings, prompt: str, version: str, schema: dict[str, Any],
         payload: dict[str, Any]) -> tuple[str | None, ModelCall]:
    """Call the chat-completions API once with the prompt and the payload as JSON data.

    Returns the reply's text (None when the call failed) and its accounting; the caller
    judges the reply and sets the outcome.
    """
    client = model_client(settings)
    started = time.monotonic()
    messages: Any = [{"role": "system", "content": prompt},
                     {"role": "user", "content": json.dumps(payload, ensure_ascii=False)}]
    server = (settings.openai_base_url, settings.llm_model)

    def ask(response_format: Any) -> Any:
        return client.chat.completions.create(model=settings.llm_model, temperature=0,
                                              response_format=response_format, messages=messages)
    try:
        if server in _JSON_MODE_ONLY:
            response = ask({"type": "json_object"})
        else:
            try:
                response = ask({"type": "json_schema", "json_schema": schema})
            except openai.BadRequestError:
                # A server that knows only JSON mode refuses the schema (400): the prompt asks
                # for the object and the caller checks its shape, so JSON mode is enough.
                response = ask({"type": "json_object"})
                _JSON_MODE_ONLY.add(server)
                log.warning("%s refused a JSON schema; using JSON mode (json_object) from now on",
                            settings.openai_base_url or "the model server")
        content = response.choices[0].message.content or ""
    except (openai.OpenAIError, IndexError) as exc:
        log.warning("model call failed: %s", type(exc).__name__)
        return None, ModelCall(settings.llm_model, version, 0, 0, time.monotonic() - started, "failed")
    usage = response.usage
    return content, ModelCall(settings.llm_model, version, usage.prompt_tokens if usage else 0,
                              usage.completion_tokens if usage else 0, time.monotonic() - started, "used")


def _ask_model(conversation: list[Message], hits: list[Hit],
               settings: Settings) -> tuple[_Verdict, ModelCall]:
    """Ask for an answer; judge the reply; account for the tokens."""
    knowledge = [{"id": h.entry_id, "title": h.title, "text": h.body} for h in hits]
    content, call = chat(settings, PROMPT, PROMPT_VERSION, ANSWER_SCHEMA,
                         {"KNOWLEDGE": knowledge, "CONVERSATION": as_data(conversation[-8:])})
    if content is None:
        return _Verdict("invalid", why="the call failed"), call
    verdict = judge(content, {h.entry_id for h in hits}, secrets_of(settings))
    return verdict, replace(call, outcome="used" if verdict.kind == "answer" else verdict.kind)


def secrets_of(settings: Settings) -> list[str]:
    """The configured secrets long enough to look for in a model's reply."""
    return [v for name in SECRET_FIELDS if len(v := str(getattr(settings, name) or "")) >= 6]


def judge(content: str, allowed_ids: set[str], secrets: Sequence[str] = ()) -> _Verdict:
    """Accept the model's JSON only if it is complete, grounded, safe and within budget."""
    try:
        data: Any = json.loads(content)
    except json.JSONDecodeError:
        return _Verdict("invalid", why="not JSON")
    if not isinstance(data, dict):
        return _Verdict("invalid", why="not a JSON object")
    answer, steps, cited = data.get("answer"), data.get("steps", []), data.get("sources")
    case, confidence = data.get("case", ""), data.get("confidence", 1.0)
    if not isinstance(answer, str) or not isinstance(cited, list) or not isinstance(steps, list) \
            or not isinstance(case, str) or not all(isinstance(s, str) for s in [*steps, *cited]) \
            or not isinstance(confidence, (int, float)):
        return _Verdict("invalid", why="does not match the schema")
    if not answer.strip() or not cited or confidence < MIN_CONFIDENCE:
        return _Verdict("refusal", why="the model found no answer in the entries")
    text = " ".join([answer, case, *steps])
    problems = [
        (not set(cited) <= allowed_ids, "cites entries that were not retrieved"),
        (len(answer) > MAX_ANSWER_CHARS or len(case) > MAX_CASE_CHARS or len(steps) > MAX_STEPS
         or any(len(s) > MAX_STEP_CHARS for s in steps), "over the length budget"),
        (bool(_FORBIDDEN.search(text)), "asks for more or sends the analyst elsewhere"),
        (bool(findings(text)), "contains personal data"),
        (any(secret in content for secret in secrets), "contains a configured secret"),
    ]
    failed = [why for bad, why in problems if bad]
    if failed:
        return _Verdict("invalid", why="; ".join(failed))
    return _Verdict("answer", answer.strip(), tuple(s.strip() for s in steps), tuple(cited), case=case.strip())
