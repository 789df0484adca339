"""How a lesson is worded: the customer's need as a clean question, the analyst's answer as steps.

A reviewer merges an entry that reads like a help-centre article, not a transcript: no
greetings, thanks, apologies, sign-offs or agent initials ("^CG"), no @handles, no links the
customer sent, no names or ids; error codes and product words kept; never cut mid-word.
Only links to help documents of the desk's own domains stay (helpdocs.py).
"""

from __future__ import annotations

import html
import re

from plugin.knowledge.retrieval import query_terms
from plugin.learning.helpdocs import CONTACT_FORM, LINK, HelpDomains, unwrap
from plugin.redaction import redact

TITLE_CHARS = 100
_HANDLE = re.compile(r"(?<![\w.])@\w+")
_EMAIL = re.compile(r"(?<![\w.+-])[\w.+-]+@[\w-]+(?:\.[\w-]+)+")  # starts where its run starts: linear
_HASHTAG = re.compile(r"(?<!\w)#(\w+)")
# Agents sign with initials or a first name at the end: "^CG", "*SR", "/LC", "-Cyn", "~Braden".
SIGNATURE = re.compile(r"(?:^|\s)(?:[\^*~/]\s?[A-Z][\w]{0,11}|[-–—]\s?[A-Z][a-z]{1,11}|[-–—][A-Z]{2,3})\s*$")
# A greeting at the start, with the name that may follow it ("Hi Ann!", "Hello dear team,").
_GREETING = re.compile(r"^\s*(?:hi|hello|hey|hiya|dear|greetings|respect(?:ed)?|good (?:morning|afternoon|evening))\b"
                       r"(?:\s+(?:there|all|team|dear|guys|folks|sir|madam|mam|(?-i:[A-Z][a-z'-]+))){0,3}\s*[,.!:\u2013\u2014-]*\s*", re.I)
# Sentences (or their opening clause) that are courtesy, not content.
_COURTESY = re.compile(
    r"^(?:thanks?|thank you|ty|sorry|(?:our |my )?apologies|(?:we|i)(?: truly| do| really)? apologi[sz]e|oh no|no problem|"
    r"you'?re welcome|glad|happy to help|hope (?:this|that) helps|have a (?:nice|good|great)|cheers|regards|"
    r"best|appreciate|(?:we|i)(?: would| do| really)?(?:'d| 'd)? (?:appreciate|love to help|like to help|"
    r"understand|hear you|are sorry|'re sorry|want to help|can help|'re here|are here)|"
    r"(?:we|i)(?:'re| are) (?:sorry|happy|glad|here)|that'?s not (?:what|how)|this is never|"
    r"you'?ve reached the right place|let(?:'s| us) (?:take a look|get (?:you|this|that))|"
    r"let (?:us|me) know|tweet back|feel free|please (?:stay safe|keep us posted)|stay safe|"
    r"good question|great question|that'?s a (?:great|good) question|my apologies|we'?re on it|we see|"
    r"(?:we|i)(?:'d|'ll| would| will) (?:be )?(?:glad|happy|here)|(?:we|i)(?:'re|'m| are| am) (?:so |very |really )?sorry|"
    r"as you can imagine|(?:we |i )?hope (?:this|that|it|these) (?:helps?|works?))\b", re.I)
_HOLLOW = re.compile(r"\b(?:here|happy|glad|love|like) to help\b|\bappreciate (?:your|the) patience\b|"
                     r"\bsee (?:if|how) we can help\b", re.I)
# A trailing clause that only offers more help: "..., but let us know if you need assistance."
_OFFER = re.compile(r"(?<![\s,;])[,;]?\s*(?:(?:but|and|or) )?(?:please )?(?:let (?:us|me) know|feel free|(?:we are|we're) always "
                    r"(?:happy|glad|here) to help|if you (?:need|have) "
                    r"(?:any )?(?:further |more )?(?:help|assistance|questions))\b[^.!?]*[.!?]?$", re.I)
# Ticket chatter in a customer's message: appeals, status chases, complaints about waiting.
_CHATTER = re.compile(
    r"^(?:please help|help me|help|can you help(?: me)?|could you help(?: me)?|can anyone help|"
    r"was wondering if you can help(?: me)?(?: out)?|i need help|need help|hello\??|hi\??|any (?:update|news)|"
    r"still waiting|i'?ve been waiting|i have been waiting|is anyone there|anyone\??|why no reply|"
    r"no one (?:is )?(?:answering|replying|helps?))[\s,.!?]*$", re.I)
CONTACT = re.compile(
    r"\b(?:contact (?:us|our|them|support|the)|reach out|get in touch|send us (?:a|an)|dm us|"
    r"direct message|(?:in a|via|through) (?:dm|private message|private request)|submit (?:a|your) "
    r"(?:ticket|request|account info)|(?:chat|speak|talk) (?:with|to) (?:us|our|an?|the)|call us|"
    r"one-on-one support|requests/new|/contact|select the chat button|tweet back|"
    r"(?:team|experts?|specialists?|agents?|advisors?) (?:will|can|would) (?:be able to )?(?:help|assist|look))", re.I)
ASKS = re.compile(
    r"\b(?:could|can|would|will) you (?:please )?(?:send|confirm|check|tell|share|try|give|provide|let|"
    r"clarify|describe|reply|dm|follow)|\bplease (?:send|confirm|share|reply|let us know|provide|dm|follow|include)|"
    r"^(?:what|which|when|where|is|are|does|do|did|how long|who) [^.?!]*\?$|"
    r"\bis it safe to assume\b|\bjust to confirm\b", re.I)
_TRIED = re.compile(r"^(?:just to confirm, )?(?:have|did) you (?:already |also )?(?:tried|try|checked|check|seen|"
                    r"see|followed|follow|completed|complete|gone|go) (.+?)\??$", re.I)
# Dates, times, order and account numbers: not an error code ("WS-37368-3", "0x80070005", "error code #1006").
_DETAILS = re.compile(
    r"(?<![\w#-])(?<!code )(?<!error )#?\d{4,}(?![\w-])|\b\d{1,2}[:.]\d{2}\s*(?:am|pm)?\b|\b\d{4}-\d{2}-\d{2}\b|\b\d{1,2}/\d{1,2}/\d{2,4}\b|"
    r"\b(?:mon|tues|wednes|thurs|fri|satur|sun)day\b|\b(?:yesterday|today|tomorrow|tonight|this morning|"
    r"last (?:week|night|month)|next (?:week|month))\b|\bph_\w+\b", re.I)
_SENTENCE = re.compile(r"(?<=[.!?])[\"')\]]?\s+|\n+|(?<!\s)\s+[\u2013\u2014-]\s+|(?<!\s)\s*\|\|\s*")
_INTRODUCTION = re.compile(r"\b(?:my name is|i am|i'm|this is)(?: (?-i:[A-Z][\w'-]+)){1,3}\b[,.]?|"
                           r"\b(?:my|the) (?:user ?name|username|id|psn(?: id)?|gamertag|account(?: name| id)?|"
                           r"email|e-mail|handle|phone(?: number)?) (?:is|:)\s*\S+", re.I)
INTERROGATIVE = re.compile(r"(?:how|what|why|where|when|which|who|can|could|is|are|do|does|did|will|would|should|"
                           r"may|has|have|am|was|were|isn'?t|aren'?t|don'?t|doesn'?t|won'?t|can'?t)\b", re.I)
_COMMON_OPENERS = frozenset("my the a an our your nothing everything every all some none no it this that we you "
                            "there when after since".split())
_QUOTES = str.maketrans({"\u2019": "'", "\u2018": "'", "\u201c": '"', "\u201d": '"'})
_LEADING = re.compile(r"^(?:(?:so|ok|okay|well|also|and|but|btw|hey|yo|however|plus|then|please|yes|no|yeah|nope|"
                      r"i need (?:your |some )?help(?: because| with)?|can you (?:please )?help me(?: with| in)?|"
                      r"(?:please )?tell me)\b[,\s]*)+",
                      re.I)
PROBLEM = re.compile(r"\b(?:can'?t|cannot|can not|won'?t|doesn'?t|don'?t|didn'?t|isn'?t|aren'?t|not|unable|error|"
                     r"fail\w*|stopped|keeps?|issue|problem|broken|crash\w*|stuck|lost|missing|locked out|hacked|"
                     r"compromised|gone|disappeared|loading screen|someone (?:has )?(?:signed|logged|trying)|"
                     r"(?:i|we) (?:want|wanted|need|needed|would like) to)\b", re.I)
_EMOJI = re.compile("[\U0001F000-\U0001FFFF\u2600-\u27BF\uFE0F\u200B-\u200F\u2060-\u206F]")


def terms(text: str) -> list[str]:
    """Distinctive words as the index analyses them (stemmed, no stop words)."""
    return query_terms(text)


def greets(text: str) -> bool:
    """Greetings, thanks, apologies or an agent's sign-off anywhere in the text."""
    return any(_greeting(s) or _COURTESY.match(s.replace("\u2019", "'"))
               for s in sentences(text)) or bool(SIGNATURE.search(text))


def _greeting(sentence: str) -> bool:
    found = _GREETING.match(sentence)
    return bool(found and found.group(0).strip())


def sentences(text: str) -> list[str]:
    """Sentences; a link followed by a capitalised word ends one ("...: <link> Hope this helps!")."""
    text = re.sub(r"(https?:\s?//\S+)\s+(?=[A-Z])", "\\1\n", text)
    return [s.strip() for s in _SENTENCE.split(text) if s and s.strip()]


MAX_CHARS = 4000  # a question or an answer worth an entry is shorter; the rest is not read


def plain(text: str) -> str:
    """Handles, e-mails, emoji, entities and self-introductions out; hashtags become words."""
    text = html.unescape(text[:MAX_CHARS]).translate(_QUOTES)
    text = _INTRODUCTION.sub(" ", _EMOJI.sub("", text))
    text = _HASHTAG.sub(r"\1", _HANDLE.sub(" ", _EMAIL.sub(" ", text)))
    return re.sub(r"[ \t]+", " ", text)


def tidy(text: str) -> str:
    text = redact(text, keep_links=True)
    text = "".join(part if LINK.fullmatch(part) else _DETAILS.sub("", part)
                   for part in re.split(r"(https?://\S+)", text))
    text = re.sub(r"\[(?:email|card|token|ip|phone|link)\]", "", text)
    text = re.sub(r"\(\s*\)|(?<!\s)\s+([,.!?;:])", r"\1", text)
    return re.sub(r"\s{2,}", " ", text).strip(" ,;:-\u2013\u2014")


def _uncourteous(sentence: str) -> str:
    """The sentence without an opening greeting or courtesy clause; '' if nothing else is left."""
    sentence = _GREETING.sub("", sentence).strip()
    while _COURTESY.match(sentence.replace("\u2019", "'")):
        parts = re.split(r"(?<=\w)[,!:]\s+|\s+[\u2013\u2014-]\s+", sentence, maxsplit=1)
        if len(parts) < 2:
            return ""
        sentence = parts[1][:1].upper() + parts[1][1:]
    return sentence


def question_candidates(text: str) -> list[str]:
    """The customer's sentences that may state the need: courtesy, chatter and links removed."""
    found = []
    for raw in sentences(plain(text)):
        sentence = tidy(LINK.sub(" ", _uncourteous(raw)))
        sentence = _LEADING.sub("", re.sub(r"(?<!\s)\s+link$", "", sentence)).strip()
        if len(sentence.split()) >= 3 and not _CHATTER.match(sentence):
            found.append(sentence)
    return found


def as_question(sentence: str) -> str:
    """A title: the sentence as a question, capitalised, shortened at a word, never mid-word."""
    text = re.sub(r"(?<![\s?!.…])\s*[?!.…]+$", "", sentence.strip())
    text = re.sub(r"([!?.])\1+", r"\1", text)
    letters = [c for c in text if c.isalpha()]
    if sum(c.isupper() for c in letters) > 0.6 * len(letters):  # shouting: lower case, codes kept
        text = re.sub(r"\b[A-Z]+\b", lambda m: m.group(0).lower(), text)
    if len(text) > TITLE_CHARS:
        cut = text[:TITLE_CHARS]
        clause = max(cut.rfind(", "), cut.rfind("; "))
        text = cut[:clause] if clause > TITLE_CHARS // 2 else cut.rsplit(" ", 1)[0]
    text = re.sub(r"\bi\b", "I", text).strip(" ,;:-")
    if not text:
        return ""
    if not INTERROGATIVE.match(text) and PROBLEM.search(text):  # a reported problem: "What to do when ...?"
        first, _, rest = text.partition(" ")
        if re.split(r"'", first.lower())[0] in _COMMON_OPENERS:
            text = f"{first.lower()} {rest}".strip()
        return f"What to do when {text}?"
    return text[:1].upper() + text[1:] + "?"


def leans_on_context(sentence: str) -> bool:
    """The sentence only makes sense after another ("It does it with all projects")."""
    return bool(re.match(r"(?:it|this|that|they|these|those|he|she|same)\b", sentence.strip(), re.I)
                or (re.search(r"\b(?:it|this|that)\b", sentence, re.I) and len(terms(sentence)) <= 3)
                or re.search(r"\b(?:what|as) I (?:shared|said|mentioned|wrote)|\b(?:earlier|above)\b", sentence, re.I))


def asks(sentence: str) -> bool:
    """The sentence is worded as a question."""
    return sentence.rstrip().endswith("?") or bool(INTERROGATIVE.match(sentence.strip()))


def answer_steps(text: str, customer_links: set[str], domains: HelpDomains) -> tuple[list[str], list[str]]:
    """The analyst's reply as steps and the help links kept: courtesy, questions to the customer,
    "contact us", sign-offs and the customer's own links removed."""
    text = SIGNATURE.sub("", plain(text).strip())
    steps, kept = [], []
    for raw in sentences(text):
        sentence = SIGNATURE.sub("", _uncourteous(raw))
        tried = _TRIED.match(_LEADING.sub("", sentence))
        if tried:  # "Have you tried the steps here: <link>?" is advice: "Try the steps here: <link>."
            sentence = "Try " + tried.group(1)
        if ASKS.search(LINK.sub("", sentence)):
            continue  # a request to the customer ("Please include your ID ...")
        sentence = _LEADING.sub("", sentence)
        dropped, kept_here = False, False
        for url in LINK.findall(sentence):
            original = unwrap(url)
            keep = original not in customer_links and domains.allows(original)
            sentence = sentence.replace(url, original if keep else " ")
            dropped, kept_here = dropped or not keep, kept_here or keep
        if dropped and not kept_here:
            continue  # it pointed at something that is not the desk's help document: nothing left to say
        bare = LINK.sub("", sentence).strip()
        if _HOLLOW.search(bare) and not LINK.search(sentence):
            continue  # "our team is here to help": courtesy in the middle of a sentence
        if bare.endswith("?") or (CONTACT.search(bare) and not LINK.search(sentence)):
            continue  # a question to the customer, or "contact us"
        if LINK.search(sentence) and all(CONTACT_FORM.search(u) for u in LINK.findall(sentence)):
            continue  # a link to the contact form is "contact us", not a help document
        sentence = tidy(_OFFER.sub("", sentence) if LINK.search(sentence) or len(_OFFER.sub("", sentence).split()) > 3
                        else "")
        if sentence.endswith(":") or re.search(r"\b(?:here|at|visit|see|through)$", sentence):
            sentence = sentence.rstrip(":")  # its link was the customer's or not a help document
            if not LINK.search(sentence):
                continue
        if len(sentence.split()) >= 3:
            ends_well = sentence[-1:] in ".!?" or re.search(r"https?://\S+$", sentence)
            steps.append(sentence[:1].upper() + sentence[1:] + ("" if ends_well else "."))
            kept += [unwrap(u) for u in LINK.findall(sentence)]
    return steps, list(dict.fromkeys(kept))
