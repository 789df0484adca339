"""Zendesk notes render as HTML: what the analyst sees, and nothing a note can inject."""

import re

import pytest

from connectors.zendesk.render import to_html
from plugin.notes.layout import render, source_of
from connectors.events import NOTE_MARKER
from plugin.model import Hit


def test_a_real_note_renders_with_lists_branches_links_and_marker():
    hit = Hit("account/reset-password", "Reset a password", "body", 0.9, ("https://help.example.com/r",))
    out = to_html(render("Send a **reset link**.", ["Steps:\n1. Confirm the e-mail\n2. Send the `link`"],
                         [source_of(hit)], "The rule's why."))
    assert out.startswith("<p><strong>Vigil:</strong> Send a <strong>reset link</strong>.</p>")
    assert "<p>Steps:</p><ol><li>Confirm the e-mail</li><li>Send the <code>link</code></li></ol>" in out
    assert '<p>Sources:</p><ul><li><a href="https://help.example.com/r">Reset a password</a></li></ul>' in out
    assert NOTE_MARKER in out


def test_customer_text_quoted_in_a_note_is_escaped():
    out = to_html('The latest message says: "<script>alert(1)</script>" & more')
    assert "<script>" not in out and "&lt;script&gt;" in out and "&amp; more" in out


def test_branches_under_a_step_render_as_a_nested_list():
    out = to_html("Steps:\n1. Check the state:\n   - **Sent**: wait\n   - Failed: resend\n2. Confirm")
    assert out == ("<p>Steps:</p><ol><li>Check the state:<ul><li><strong>Sent</strong>: wait</li>"
                   "<li>Failed: resend</li></ul></li><li>Confirm</li></ol>")


HOSTILE = [
    'https://evil.test/x"onmouseover="alert(1)',
    "https://evil.test/x'onmouseover='alert(1)",
    '[click](https://evil.test/y"onclick="alert(1))',
    "[click](javascript:alert(1))",
    "https://evil.test/<img src=x onerror=alert(1)>",
    "https://evil.test/a`b onfocus=alert(1) autofocus",
    '**[x](https://evil.test/"style="x)**',
]


@pytest.mark.parametrize("text", HOSTILE)
def test_a_hostile_link_cannot_add_an_attribute_or_a_tag(text):
    out = to_html(f"See {text} now.")
    for tag in re.findall(r"<[^>]*>", out):  # only the renderer's own tags, and an href at most
        assert re.fullmatch(r'</?(?:p|strong|code|ul|ol|li|br)>|<a href="https?://[^"<>\s]*">|</a>', tag), tag
    assert "javascript:" not in "".join(re.findall(r"<[^>]*>", out))


def test_a_bare_link_leaves_the_sentence_full_stop_outside():
    assert to_html("Read https://help.example.com/a?b=1&c=2.") == \
        '<p>Read <a href="https://help.example.com/a?b=1&amp;c=2">https://help.example.com/a?b=1&amp;c=2</a>.</p>'
