"""Reading real messages: does the plugin see a question and a risk where a careful reader does?

tests/eval/reading/real_messages.jsonl holds labels for real messages, one a line:
{"source": ..., "id": ..., "part": "dev" | "report", "asks": bool, "flag": [risk kinds]}. The
text is not copied there: it is read from the data it comes from, by source:
`twitter_care` the first customer tweet of the session `id` (data/twitter_care/dev.json);
`twitter_care_later` any later customer tweet, by its tweet id (a customer's follow-up, or
another customer joining the thread); `helpdesk` the public reporter comment `id`, its
sentences joined (data/helpdesk/); `abcd` a customer turn of a role-played service dialogue,
`convo_id:turn` (data/abcd/abcd_sample.json). `part` splits the messages by a hash
of their id: the cues may be tuned on `dev`; `report` is only ever reported.

For each part: flag precision (of the messages given any flag, the share that deserve one),
its recall, the share of flags of a kind the label names, how many security (P0) flags name a
security event, and the same precision and recall for `asks` (a question, a request or a
reported problem).
"""

from __future__ import annotations

import csv
import json
from collections import defaultdict
from pathlib import Path
from typing import Any

from plugin.decision import signals
from plugin.evaluation import grounding

LABELS = grounding.REPO / "tests" / "eval" / "reading" / "real_messages.jsonl"
HELPDESK = grounding.REPO / "data" / "helpdesk" / "helpdesk_tickets_utterances.csv"
ABCD = grounding.REPO / "data" / "abcd" / "abcd_sample.json"
# A conversation's tweets by a customer: its own customer ("client") and others joining it.
CUSTOMERS = ("client", "client1")


def texts(care: Path = grounding.DATA, helpdesk: Path = HELPDESK,
          abcd: Path = ABCD) -> dict[tuple[str, str], str]:
    """(source, id) -> the message's text, for every message the labels can name."""
    out = {}
    for item in json.loads(Path(care).read_text(encoding="utf-8")):
        tweets = sorted((m["datetime"], m["tweet_ID"], m["message"], who)
                        for m in item["dialogContent"] for who in CUSTOMERS if who in m)
        own = [t for t in tweets if t[3] == "client"]
        if own:
            out[("twitter_care", item["dialogHeader"]["sessionID"])] = own[0][2]
        out.update((("twitter_care_later", tweet), text) for _, tweet, text, _ in tweets
                   if not own or tweet != own[0][1])
    for dialogue in json.loads(Path(abcd).read_text(encoding="utf-8")):
        out.update(((("abcd", f"{dialogue['convo_id']}:{turn}"), text)
                    for turn, (speaker, text) in enumerate(dialogue["original"]) if speaker == "customer"))
    sentences: dict[str, list[tuple[int, str]]] = defaultdict(list)
    with open(helpdesk, encoding="utf-8", newline="") as rows:
        for row in csv.DictReader(rows):
            sentences[row["id"].removesuffix(".0")].append((int(row["utr_seq"]), row["actionbody"]))
    for comment, parts in sentences.items():
        out[("helpdesk", comment)] = " ".join(text for _, text in sorted(parts))
    return out


def load(path: Path = LABELS) -> list[dict[str, Any]]:
    """The labelled messages with their text; a label naming no known message is an error."""
    known = texts()
    labelled = []
    for number, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        item = json.loads(line)
        key = (item["source"], item["id"])
        if key not in known:
            raise ValueError(f"{path}:{number}: no {item['source']} message with id {item['id']}")
        labelled.append({**item, "text": known[key]})
    return labelled


def measure(messages: list[dict[str, Any]]) -> dict[str, Any]:
    """Flag and asks precision and recall per part (see the module's docstring)."""
    out = {}
    for part in sorted({m["part"] for m in messages}):
        rows = [m for m in messages if m["part"] == part]
        flagged = [(m, [k for k in signals.risks(m["text"]) if k != "vip"]) for m in rows]
        given = [(m, kinds) for m, kinds in flagged if kinds]
        deserved = [m for m in rows if m["flag"]]
        read = [(m, signals.is_question(m["text"])) for m in rows]
        asked = [m for m, asks in read if asks]
        out[part] = {
            "messages": len(rows),
            "flag": {"flagged": len(given), "deserved": len(deserved),
                     "precision": _share(sum(bool(m["flag"]) for m, _ in given), len(given)),
                     "recall": _share(sum(bool(kinds) for m, kinds in flagged if m["flag"]), len(deserved)),
                     "right_kind": _share(sum(bool(set(kinds) & set(m["flag"])) for m, kinds in given), len(given)),
                     # A security flag is a P0 note: count apart how many of them name a security event.
                     "security": {"flagged": sum("security" in kinds for _, kinds in given),
                                  "right": sum("security" in kinds and "security" in m["flag"] for m, kinds in given),
                                  "deserved": sum("security" in m["flag"] for m in rows)}},
            "asks": {"precision": _share(sum(m["asks"] for m in asked), len(asked)),
                     "recall": _share(sum(asks for m, asks in read if m["asks"]), sum(m["asks"] for m in rows))},
        }
    return out


def _share(n: int, d: int) -> float | None:
    return round(n / d, 3) if d else None


def lines(figures: dict[str, Any]) -> list[str]:
    """The figures as `vigil eval --reading` prints them."""
    return [f"{part} ({f['messages']} real messages): flags precision {f['flag']['precision']}, recall "
            f"{f['flag']['recall']} ({f['flag']['flagged']} flagged, {f['flag']['deserved']} deserve one; "
            f"right kind {f['flag']['right_kind']}; security flags {f['flag']['security']['flagged']}, "
            f"{f['flag']['security']['right']} of them security events, {f['flag']['security']['deserved']} "
            f"deserve one); asks precision {f['asks']['precision']}, "
            f"recall {f['asks']['recall']}" for part, f in figures.items()]
