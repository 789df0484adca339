"""Refuse the lessons a reviewer would reject, before any file is written, each with its reason.

- The question is a pleasantry, a chase for progress, or a one-off (news, an outage, a promotion,
  one customer's order or account): nothing a future customer will ask the same way.
- The answer does not address its question: measured, not guessed. The answer must share at
  least two distinctive words with what the customer asked (its help documents' addresses
  count), or share one that the help document's address names too, or share one and
  retrieve its own question among the first three of the run's.
"""

from __future__ import annotations

import re

from plugin.decision import signals
from plugin.learning.extract import Lesson, answer_terms
from plugin.learning.wording import INTERROGATIVE, leans_on_context, terms

SHARED_WORDS = 2  # distinctive words in common that show an answer is about its question
_CHASE = re.compile(r"\b(?:any (?:update|news|word)|still waiting|(?:how|why) (?:long|is it taking)|"
                    r"when will (?:i|we|you|this|it) (?:hear|get|be)|are you (?:going to|gonna) (?:get on|fix|"
                    r"do something|respond)|no (?:one|body) (?:is )?(?:answering|responding|replying)|"
                    r"why (?:no|haven'?t you) (?:reply|replied|response|answer)|following up|ticket number|you promised)\b", re.I)
# Things of the moment or of one customer: they will not be asked again the same way.
_ONE_OFF = re.compile(r"\b(?:corona\w*|covid\w*|pandemic|quarantine|lockdown|stay ?home|crisis|emergency|"
                      r"price gouging|hoard\w*|"
                      r"outage|is (?:\w+ )?down\b|down (?:again|right now)|announcement|giveaway|promo(?:tion)?|"
                      r"pre[- ]?order|release date|coming soon|my (?:order|package|parcel|refund|ticket|case)\b|"
                      r"casino wheel|this (?:week|weekend|tuesday)|"
                      r"scam(?:mer|med)?\b|hack(?:ed|er)s? (?:stole|took))", re.I)
_RANT = re.compile(r"\b(?:fuck\w*|shit\w*|wtf|the hell|a-?hole|asshole|crap|damn|garbage|trash|no better than|"
                   r"don'?t you love|ridiculous|pathetic|useless|disgusting)\b", re.I)
_PLEASANTRY = re.compile(r"^(?:please help|help(?: me)?(?: please)?|sorry for the trouble|was wondering if you can "
                         r"help(?: me)?(?: out)?|can you help(?: me)?|is (?:this|there) (?:the right|anyone)|"
                         r"i hope this is the right|are you there|hello|thanks?)\b", re.I)


def screen(lessons: list[Lesson]) -> tuple[list[Lesson], list[tuple[Lesson, str]]]:
    """(kept, refused with the reason) for a run's lessons."""
    kept, refused = [], []
    answers = {id(lesson): answer_terms(lesson.steps, lesson.links) for lesson in lessons}
    for lesson in lessons:
        reason = question_problem(lesson.question) or _unanswered(lesson, lessons, answers)
        if reason:
            refused.append((lesson, reason))
        else:
            kept.append(lesson)
    return kept, refused


def question_problem(question: str) -> str:
    """Why a question is not worth an entry, or ''."""
    if _PLEASANTRY.match(question) and len(terms(question)) <= 3 or signals.is_small_talk(question):
        return "the question is a pleasantry, not a need"
    if _CHASE.search(question):
        return "the question chases progress on one ticket"
    one_off = _ONE_OFF.search(question)
    if one_off:
        return f"the question is a one-off ({one_off.group(0).lower()!r}), not something customers ask again"
    if len(terms(question)) < 2 or leans_on_context(question):
        return "the question does not stand on its own (too vague, or it refers to earlier messages)"
    if _RANT.search(question):
        return "the customer's message is a complaint or a rant, not a question"
    if not INTERROGATIVE.match(question):
        return "the customer's words are a statement, neither a question nor a problem"
    return ""


def shared(lesson: Lesson, answer: set[str]) -> set[str]:
    """The distinctive words the customer's question and the answer have in common."""
    return set(terms(f"{lesson.question} {lesson.asked}")) & answer


def _unanswered(lesson: Lesson, lessons: list[Lesson], answers: dict[int, set[str]]) -> str:
    """Why the answer does not address the question, or ''."""
    common = shared(lesson, answers[id(lesson)])
    if len(common) >= SHARED_WORDS or common & answer_terms((), lesson.links):
        return ""  # enough in common, or the help document's own address names what was asked
    if common and _retrieves_own(lesson, lessons, answers[id(lesson)]):
        return ""
    return (f"the answer does not address the question ({len(common)} distinctive word(s) in common"
            f"{': ' + ', '.join(sorted(common)) if common else ''}, and it does not retrieve its own question)")


RETRIEVED_WITHIN = 3


def _retrieves_own(lesson: Lesson, lessons: list[Lesson], answer: set[str]) -> bool:
    """Among the run's questions, the answer's words rank its own in the first three (ties against it)."""
    def score(other: Lesson) -> float:
        return len(shared(other, answer)) / max(len(terms(f"{other.question} {other.asked}")), 1) ** 0.5
    own = score(lesson)
    return sum(score(other) >= own for other in lessons if other is not lesson) < RETRIEVED_WITHIN
