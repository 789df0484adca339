"""Zendesk notes render as HTML: what the analyst sees, and nothing a note can inject."""

from connectors.zendesk.render import to_html
from plugin.notes.drafting import render
from connectors.events import NOTE_MARKER
from plugin.model import Hit


def test_a_real_note_renders_with_lists_links_and_marker():
    hit = Hit("account/reset-password", "Reset a password", "body", 0.9, ("https://help.example.com/r",))
    out = to_html(render("Send a **reset link**.", ["Confirm the e-mail", "Send the `link`"], [hit], "rule `x`"))
    assert out.startswith("<p><strong>Vigil:</strong> Send a <strong>reset link</strong>.</p>")
    assert "<ol><li>Confirm the e-mail</li><li>Send the <code>link</code></li></ol>" in out
    assert "<p>Sources:</p><ul><li>Reset a password: knowledge/account/reset-password.md " \
           '(<a href="https://help.example.com/r">https://help.example.com/r</a>)</li></ul>' in out
    assert NOTE_MARKER in out


def test_customer_text_quoted_in_a_note_is_escaped():
    out = to_html('The latest message says: "<script>alert(1)</script>" & more')
    assert "<script>" not in out and "&lt;script&gt;" in out and "&amp; more" in out
