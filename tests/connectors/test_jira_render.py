"""Jira notes are wiki markup: the Markdown subset converts, text cannot open a macro or an image."""

from __future__ import annotations

import re

import pytest

from connectors.events import NOTE_MARKER
from connectors.jira.render import to_wiki

from ..note_kinds import notes_of_every_kind


@pytest.mark.parametrize("markdown, wiki", [
    ("**bold** and *italic*", "*bold* and _italic_"),
    ("__bold__", "*bold*"),
    ("- one\n- two", "* one\n* two"),
    ("* one\n  - nested", "* one\n** nested"),
    ("1. first\n2. second", "# first\n# second"),
    ("## Next steps", "h2. Next steps"),
    ("see [the guide](https://kb.example.com/a?b=1)",
     "see [the guide|https://kb.example.com/a?b=1]"),
    ("run `vpn --reset`", "run {{vpn --reset}}"),
    ("```\n**not bold** {x}\n```", "{noformat}\n**not bold** {x}\n{noformat}"),
    ("a {color} macro", "a \\{color} macro"),
    ("2*3*4 and snake_case_name", "2*3*4 and snake_case_name"),
    (f"{NOTE_MARKER} hello", f"{NOTE_MARKER} hello"),
    ("1. step\n   - **Gold**: free\n   - Silver: $20\n2. next", "# step\n#* *Gold*: free\n#* Silver: $20\n# next"),
    ("Facts:\n- Money: $4,200", "Facts:\n* Money: $4,200"),
    ("see !https://evil.test/pixel.png! now!", "see \\!https://evil.test/pixel.png! now!"),
])
def test_to_wiki(markdown, wiki):
    assert to_wiki(markdown) == wiki


def test_every_kind_of_note_is_clean_wiki_markup(runtime):
    runtime.pipeline.settings = runtime.settings.replace(knowledge_url="https://git.example.com/kb/blob/main")
    for kind, body in notes_of_every_kind(runtime).items():
        wiki = to_wiki(body)
        assert NOTE_MARKER in wiki, kind  # the loop guard finds it in the comment as Jira returns it
        assert wiki.startswith("*Vigil:* ") and "Why you see this:" in wiki, kind
        assert "**" not in wiki and "`" not in wiki and "](" not in wiki, kind  # no Markdown left over
        assert not [line for line in wiki.splitlines() if re.match(r"\s+[-*#]", line)], kind
        if kind == "answer":
            assert ("\n* [Reset a forgotten password|https://git.example.com/kb/blob/main/"
                    "account/reset-password.md]") in wiki
            assert "\n# Confirm the username" in wiki
        if kind == "flag":
            assert "\n* Money at stake: $4,200\n* Deadline: launch is on Friday" in wiki
        if kind == "summary":
            assert "\n* Waiting on the customer: \u201cCould you send me a photo" in wiki
