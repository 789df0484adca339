"""A lesson is a question and an answer a reviewer would merge: checked on real conversations."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from connectors.events import Message
from plugin.evaluation import grounding
from plugin.evaluation.learning import CARE_HELP_DOMAINS, twitter_cases
from plugin.learning import helpdocs, wording
from plugin.learning.cases import Case
from plugin.learning.extract import Lesson, Skipped, extract_offline
from plugin.learning.plan import tags
from plugin.learning.screening import question_problem, screen
from plugin.learning.helpdocs import HelpDomains
from plugin.redaction import findings

DOMAINS = HelpDomains.parse(CARE_HELP_DOMAINS)


@pytest.fixture(scope="module")
def care() -> dict[str, Case]:
    """The real customer-care conversations by session id."""
    return {c.ticket_id.removeprefix("twcs-"): c for c in twitter_cases(grounding.load_cases())}


def at(minute: int) -> datetime:
    return datetime(2026, 3, 2, 9, tzinfo=timezone.utc) + timedelta(minutes=minute)


def case(question: str, answer: str, **kw) -> Case:
    return Case("zendesk", "1", "", (Message("customer", True, question, at(0)),
                                     Message("analyst", True, answer, at(5))), **kw)


def test_a_scam_report_keeps_neither_the_customers_link_nor_the_agents_signature(care):
    lesson = extract_offline(care["UDbvkUQk3dmE0nfeayKe"], DOMAINS)  # "DO NOT CLICK ON https://pestoclub..."
    text = " ".join([lesson.question, *lesson.steps])
    assert "pestoclub" not in text and "^CG" not in text and "@" not in text
    assert lesson.links == ("https://www.godaddy.com/help/reporting-abuse-27154",)  # unwrapped from the archive
    assert lesson.question.endswith("?") and lesson.product == "GoDaddyHelp"


def test_greetings_thanks_apologies_and_offers_of_more_help_are_not_steps(care):
    lesson = extract_offline(care["IUT3nzEiU83xLfN78KOo"], DOMAINS)  # "Hi there, thanks for reaching out. ..."
    assert lesson.steps and not any(wording.greets(s) for s in lesson.steps)
    assert not any(word in s.lower() for s in lesson.steps for word in ("thanks", "let us know", "hope"))
    lesson = extract_offline(case("My sync stopped working after the update, what can I do?",
                                  "Hi Ann! Sorry for the trouble. Restart the desktop app and sign in again to "
                                  "resume syncing, but let us know if you need more help. ~Braden"))
    assert lesson.steps == ("Restart the desktop app and sign in again to resume syncing.",)


def test_the_question_is_clean_whole_and_keeps_its_error_code(care):
    lesson = extract_offline(care["d2b7GT8HWuA5dHD8BwIJ"], DOMAINS)
    assert "WS-37368-7" in lesson.question and "WS-37368-7" in " ".join(lesson.steps)
    long = extract_offline(case("Hello team, hope you are well! " + "My invoice export keeps failing with "
                                "error E1042 whenever I pick the yearly range in the reports screen of the "
                                "billing area of the admin console?", "Pick a shorter range: the export of a "
                                "year is split into months, see https://help.example.com/exports"))
    assert "E1042" in long.question and "Hello" not in long.question and "hope" not in long.question
    assert len(long.question) <= wording.TITLE_CHARS + len("What to do when ?")
    words = long.question.rstrip("?").split()
    source = "My invoice export keeps failing with error E1042 whenever I pick the yearly range in the reports " \
             "screen of the billing area of the admin console".split()
    assert words[-1] in source  # cut between words, never inside one


def test_links_are_kept_only_for_the_desks_own_help_documents():
    reply = ("See https://help.example.com/a/reset-password for the steps, or this thread "
             "https://forum.other.org/t/123 from another site.")
    configured = HelpDomains.parse("help.example.com=Example")
    steps, links = wording.answer_steps(reply, set(), configured)
    assert links == ["https://help.example.com/a/reset-password"] and "forum.other.org" not in " ".join(steps)
    steps, links = wording.answer_steps(reply, {"https://help.example.com/a/reset-password"}, configured)
    assert links == []  # the customer sent it: never kept
    steps, _ = wording.answer_steps("Did you try the steps here: https://help.example.com/wifi?", set(), configured)
    assert steps == ["Try the steps here: https://help.example.com/wifi"]  # advice, not a question back
    steps, _ = wording.answer_steps("Our apologies for the delay. Restart the app to clear the cache, then sign in.",
                                    set(), configured)
    assert steps == ["Restart the app to clear the cache, then sign in."]
    [asked] = wording.question_candidates("My installer is stuck at 3% with error code #1006 on order #4471923055")
    assert "1006" in asked and "4471923055" not in asked
    with pytest.raises(ValueError, match="not a domain"):
        HelpDomains.parse("help example com")


def test_the_brand_comes_from_the_ticket_a_tag_or_the_help_documents_domain():
    domains = HelpDomains.parse("help.example.com=Example, support.other.org=Other")
    reply = "Reset the router and sign in again, see https://support.other.org/router-reset for details."
    question = "My router keeps dropping the connection, how do I fix it?"
    assert extract_offline(case(question, reply, product="Ticket brand"), domains).product == "Ticket brand"
    assert extract_offline(case(question, reply, tags=("vip", "example")), domains).product == "Example"
    assert extract_offline(case(question, reply), domains).product == "Other"


@pytest.mark.parametrize("session, reason", [
    ("zWeWGiJNsymljyQuwDXH", "only"),  # "Please go here so that we may help": a request form
    ("hDedUcYBFM92CaI1kJWL", "sends the customer to support"),  # "You can submit a ticket at ..."
])
def test_replies_that_only_send_to_support_or_ask_teach_nothing(care, session, reason):
    skipped = extract_offline(care[session], DOMAINS)
    assert isinstance(skipped, Skipped) and reason in skipped.reason


def test_an_answer_must_address_its_question(care):
    # Asked about bandwidth, then about monetizing; answered with a blog post, not a help document.
    blog = extract_offline(care["pceo6aF0onsqXoOZDEPL"], DOMAINS)
    assert isinstance(blog, Skipped) and "not one of the desk's help documents" in blog.reason
    lesson = extract_offline(care["d2b7GT8HWuA5dHD8BwIJ"], DOMAINS)
    mismatched = Lesson(lesson.case, "What is the bandwidth limit of my hosting plan?", lesson.steps, "", "offline",
                        lesson.links, "AskPlayStation", False, "What is the bandwidth limit of my hosting plan?")
    kept, refused = screen([lesson, mismatched])
    assert kept == [lesson]
    [(_, why)] = refused
    assert why.startswith("the answer does not address the question")


@pytest.mark.parametrize("question, reason", [
    ("Please help me?", "pleasantry"), ("Any update on my ticket?", "chases progress"),
    ("Will you give out corona testing to the employees?", "one-off"),
    ("It does it with all projects, but only when rendering?", "does not stand on its own"),
    ("What to do when you are no better than the a-hole?", "rant"),
    ("I have been a customer for ten years?", "statement"),
    ("Can I change it to a later date?", "does not stand on its own"),
    ("Why the hell are you renewing products without my approval?", "rant"),
])
def test_questions_a_reviewer_would_reject(question, reason):
    assert reason in question_problem(question)
    assert question_problem("How do I report a phishing site hosted on your servers?") == ""


def test_tags_are_words_from_the_text_not_stems(care):
    lessons = [extract_offline(care[s], DOMAINS) for s in ("d2b7GT8HWuA5dHD8BwIJ", "IUT3nzEiU83xLfN78KOo")]
    found = tags(lessons[:1]) + tags(lessons[1:])
    question_words = {w.lower().strip("?,.") for lesson in lessons for w in lesson.question.split()}
    assert found and set(found) <= question_words
    assert not {"appl", "iphon", "servic", "custom", "try", "because"} & set(found)


def test_nothing_personal_reaches_a_lesson_from_real_conversations(care):
    lessons = [x for c in list(care.values())[:200] if isinstance(x := extract_offline(c, DOMAINS), Lesson)]
    assert len(lessons) > 50
    for lesson in lessons:
        text = " ".join([lesson.question, *lesson.steps])
        assert findings(text, keep_links=True) == [] and "@" not in text, text
        assert not wording.SIGNATURE.search(lesson.steps[-1]), lesson.steps
        sent = {u for m in lesson.case.messages if m.author_role == "customer" for u in helpdocs.links(m.body)}
        assert not sent & set(helpdocs.links(text))


@pytest.mark.parametrize("text", ["x" * 64_000, " \n" * 32_000, "a-" * 32_000, "Hi " * 21_000, "ok, " * 16_000,
                                  "https://" + "a" * 64_000], ids=lambda t: repr(t[:3]))
def test_a_hostile_conversation_is_read_in_linear_time(text):
    from tests.test_linear_text import deadline
    hostile = case(text + " How do I fix it?", text + " Restart the router and sign in again to sync.")
    with deadline(3.0):
        extract_offline(hostile, DOMAINS)
        wording.greets(text), wording.as_question(text), screen([])
