"""Signals on real support text: the customer-care tweets and help-desk tickets in tests/eval
(real messages from ../shared/data, copied with provenance in tests/eval/PROVENANCE.md)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from plugin.decision import signals

EVAL = Path(__file__).resolve().parent / "eval"


def eval_messages(real_only: bool = True) -> list[dict]:
    out = []
    for path in sorted(EVAL.glob("*.jsonl")):
        for line in path.read_text().splitlines():
            conversation = json.loads(line)
            if not real_only or conversation["ticket_id"].startswith(("twcs-", "hd-")):
                out += [dict(m, ticket_id=conversation["ticket_id"], tags=conversation.get("tags", []))
                        for m in conversation["messages"]]
    return out


def real_messages() -> list[dict]:
    return eval_messages(real_only=True)


def find(prefix: str) -> str:
    return next(m["body"] for m in real_messages() if m["body"].startswith(prefix))


def test_there_is_real_text_to_test_on():
    assert len(real_messages()) > 150


@pytest.mark.parametrize("prefix, kind", [
    ("@gmail someone hacked my account", "security"),
    ("@SpotifyCares please help someone Hacked", "security"),
    ("production managed server", "business_impact"),
    ("dears, kindly your help to solve the attached error noting its appeared in more than 1 branch", "widespread"),
    ("@TMobile anyone else experience total service loss", "widespread"),
    ("my airpods aren't working and i'm ready to flip", "negative_emotion"),
])
def test_risks_in_real_messages(prefix, kind):
    assert kind in signals.risks(find(prefix))


def test_thanks_are_small_talk_and_not_questions():
    thanks = [m["body"] for m in eval_messages(real_only=False) if m["body"].lower().strip(" .!").startswith(("thanks", "thank you"))
              and len(m["body"]) < 40]
    assert thanks
    assert all(signals.is_small_talk(t) and not signals.is_question(t) for t in thanks)


def test_labelled_flags_in_real_text_are_mostly_found():
    """Recall of the risk cues on the real (not written-for-us) messages labelled flag."""
    flagged = [m for m in real_messages() if "flag" in m.get("expect", ())]
    found = [m for m in flagged if signals.risks(m["body"], m["tags"])]
    assert len(flagged) >= 15 and len(found) / len(flagged) >= 0.8


def test_no_risk_in_plain_questions():
    for text in ["How do I reset my password?", "Can I change the delivery address?", "Thanks, that worked!"]:
        assert signals.risks(text) == []


@pytest.mark.parametrize("text, expected", [
    ("Is search broken?? Every single thing I type gives 'No results found'.", True),
    ("ur site is sooo slow today. anything i can do on my end??", True),
    ("Where is my order 8812045310 right now?", False),  # a lookup, not knowledge
    ("Is my premium subscription still active?", False),
    ("still failing, any update?", False),
    ("In progress for a WEEK? ok...", False),
])
def test_in_scope(text, expected):
    assert signals.in_scope(text) is expected


def test_analyst_statements_are_not_questions_but_customer_problems_are():
    assert not signals.is_question("Not a store error; removing the fee.", problems_count=False)
    assert signals.is_question("The checkout shows an error when I pay")


def test_test_environment_from_text_or_tag():
    assert signals.is_test_environment("this is on the staging site")
    assert signals.is_test_environment("all good", ["Test"])
    assert not signals.is_test_environment("I tested the link twice")


def test_commands():
    assert signals.command("@vigil summary please") == "summary"
    assert signals.command("@Vigil: wrong, that entry is outdated") == "wrong"
    assert signals.command("@vigil") == "summary"
    assert signals.command("no mention here") == ""


def test_signals_read_every_real_message():
    for m in real_messages():
        assert isinstance(signals.in_scope(m["body"]), bool)
        assert set(signals.risks(m["body"], m["tags"])) <= {"business_impact", "widespread", "security",
                                                             "negative_emotion", "vip"}


@pytest.mark.parametrize("text", [
    "Exporting my contacts to a spreadsheet.",  # a need written as a heading, no verb of asking
    "I'm looking for a way to share one calendar with my whole family",
    "I need help with my account, the reset link never comes",
    "lost my authenticator when I switched phones",  # a problem, stated
    "the app keeps crashing when I open the camera",
    "Hi team,\n\nWe moved offices last week and since then the printer won't connect.\n"
    "Kindly advise.\n\nRegards,\nSam",  # e-mail style: greeting, story, ask, signature
    "pls help cant sign in to my acount",  # misspelt, no question mark
    "Whats the fastest way to close my account",
    "Does the free plan support two users",
    "dears, kindly update",  # a chase: a request, though not one knowledge answers
])
def test_asks_without_a_question_mark(text):
    assert signals.is_question(text)


@pytest.mark.parametrize("text", [
    "Thanks, that worked!",
    "Here is the log you asked for.",
    "Happy new year from all of us",
])
def test_statements_are_not_asks(text):
    assert not signals.is_question(text)


def test_asking_the_team_to_act_is_a_request_but_not_for_knowledge():
    text = "dears, kindly change the status of the account below to approved"
    assert signals.is_question(text) and not signals.in_scope(text)


@pytest.mark.parametrize("text", [
    "Prices went up during this virus, the sellers are profiteering",  # the pandemic, not malware
    "The stream keeps buffering. Everyone's home tonight, but still!",  # everyone at home, not affected
    "My sister's wedding is next week and the dress still hasn't shipped",  # personal, not a business
    "i suggest we install the production environment on the test area first",  # production, nothing failing
    "we need an update on this and a fix asap",  # urgency alone is not business impact
    "I told my friend a joke about your ads",
    "The report says critical_path_length: 3",
])
def test_risk_words_in_another_sense_are_not_risks(text):
    assert signals.risks(text) == []


@pytest.mark.parametrize("text, kind", [
    ("the issue exists with all users since this morning", "widespread"),
    ("when customers try to scan the code it returns invalid", "widespread"),
    ("we are receiving daily complaints about missing branches", "widespread"),
    ("transfer to the new iPod is a total clusterfuck", "negative_emotion"),
    ("I had to reinstall and lose everything", "security"),
    ("no session on production since the restart", "business_impact"),
    ("please provide a resolution date before end of the month", "business_impact"),
    ("urgent: tellers in three branches cannot post transactions", "business_impact"),
])
def test_risks_said_in_real_ways(text, kind):
    assert kind in signals.risks(text)


@pytest.mark.parametrize("text", [
    # A security flag is a P0 note: it needs a security event, not a security word.
    "#phishing three phishing sites found today, all hosted by your servers: example[.]com",  # an abuse report
    "I'm trying to log into my account but it says my password is wrong",  # the customer's own login
    "someone in another country tried to sign in but 2FA stopped them",  # an attempt that failed
    "the stolen yacht mission will not start after the update",  # a game's mission
    "my bank's fraud alert blocked the payment, how do I pay another way?",
    "the API answers 401 Unauthorized since I rotated the key",
    "the anti malware scan wakes my PC up at night",
    "WHY IS THE APP SO SLOW TODAY",  # capitals alone are not anger
    "Are online services down for the game right now?",  # asking, not an outage of their business
    "after a power outage the router will not connect",
    "the free plan allows 3 users, does Plus allow more?",
    "Anyone else getting this odd colour in the preview?",
    "my pc gets a CRITICAL SERVICE FAILED blue screen on every boot",
    "is this text message a scam?",
])
def test_security_and_other_risk_words_without_the_event_are_not_risks(text):
    assert signals.risks(text) == []


@pytest.mark.parametrize("text, kind", [
    ("someone from abroad has been logging into my music account", "security"),
    ("somebody changed my password and recovery email overnight", "security"),
    ("my account password got changed and I can't get back in", "security"),
    ("there are charges I never made on my card", "security"),
    ("got a phishing email pretending to be you, where do I forward it?", "security"),
    ("the game servers are down again", "widespread"),
    ("calls have been dropping across the whole city since noon", "widespread"),
    ("we had to do a manual intervention in the live environment again", "business_impact"),
    ("I'm losing income every day the channel is demonetised", "business_impact"),
    ("these crooks charged me twice", "negative_emotion"),
    ("What a scam company, charging me after I cancelled", "negative_emotion"),
    ("why the hell are you renewing without asking me", "negative_emotion"),
])
def test_risk_events_said_in_customers_words(text, kind):
    assert kind in signals.risks(text)
