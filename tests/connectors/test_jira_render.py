"""Jira notes are wiki markup: the Markdown subset converts, text cannot open a macro or an image."""

from __future__ import annotations

import pytest

from connectors.events import NOTE_MARKER
from connectors.jira.render import to_wiki


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
