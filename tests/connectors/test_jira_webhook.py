"""Jira webhooks: signature checks, and captured bodies translated into the plugin's Events."""

from __future__ import annotations

import copy
import hashlib
import hmac
import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

import pytest
from werkzeug.datastructures import Headers

from connectors.base import BadPayload, ConfigurationError, SignatureError
from connectors.jira import JiraConnector
from connectors.events import NOTE_MARKER, STATUSES, Delivery
from plugin.settings import Settings

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "jira"
SECRET = "jira-webhook-secret-for-tests"
NOW = datetime(2024, 6, 1, tzinfo=timezone.utc)
MM, JM = "mattermost-plugin-jira", "jira-to-matrix"


def raw(name: str) -> bytes:
    """Return a captured body: 'folder/file.json' under tests/fixtures/jira."""
    return (FIXTURES / name).read_bytes()


def variant(name: str, change: Callable[[dict], Any]) -> bytes:
    """Return a capture changed in memory, for a scenario no capture shows (file untouched)."""
    data = copy.deepcopy(json.loads(raw(name)))
    change(data)
    return json.dumps(data).encode()


def signed(body: bytes, secret: str = SECRET, **extra: str) -> Headers:
    digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return Headers({"X-Hub-Signature": f"sha256={digest}", **extra})


def connector(**settings: Any) -> JiraConnector:
    return JiraConnector(Settings(jira_webhook_secret=SECRET, **settings).helpdesks["jira"])


def deliver(body: bytes | str, **settings: Any) -> Delivery:
    """Verify then parse, as the route does: a fixture name or raw bytes."""
    body = raw(body) if isinstance(body, str) else body
    jira, headers = connector(**settings), signed(body)
    jira.verify(headers, body, NOW)
    return jira.parse(headers, body)


def summary(delivery: Delivery) -> list[tuple]:
    """(kind, ticket, status, previous, assignee, role, public, message_id) per event."""
    return [(e.kind, e.ticket_id, e.status, e.previous_status, e.assignee,
             e.message and e.message.author_role, e.message and e.message.public,
             e.message and e.message.message_id) for e in delivery.events]


# --- configuration and signatures ---------------------------------------------------------

@pytest.mark.parametrize("secret", ["", "   "])
def test_connector_refuses_to_start_without_a_secret(secret):
    with pytest.raises(ConfigurationError, match="VIGIL_JIRA_WEBHOOK_SECRET"):
        JiraConnector(Settings(jira_webhook_secret=secret).helpdesks["jira"])


def test_connector_starts_without_api_credentials():
    assert connector().name == "jira"


def test_good_signature_passes_on_the_raw_bytes():
    body = raw(f"{MM}/webhook-cloud-comment-created.json")
    connector().verify(signed(body), body, NOW)


def test_signature_header_name_and_hex_case_do_not_matter():
    body = raw(f"{MM}/webhook-issue-created.json")
    value = signed(body)["X-Hub-Signature"]
    connector().verify(Headers({"x-hub-signature": "sha256=" + value[7:].upper()}), body, NOW)


def test_signature_by_another_secret_is_refused():
    body = raw(f"{MM}/webhook-issue-created.json")
    with pytest.raises(SignatureError, match="does not match"):
        connector().verify(signed(body, secret="someone-else"), body, NOW)


def test_signature_over_other_bytes_is_refused():
    body = raw(f"{MM}/webhook-issue-created.json")
    reformatted = json.dumps(json.loads(body)).encode()  # same JSON, other bytes
    with pytest.raises(SignatureError):
        connector().verify(signed(body), reformatted, NOW)


def test_missing_signature_is_refused():
    body = raw(f"{MM}/webhook-issue-created.json")
    with pytest.raises(SignatureError, match="missing X-Hub-Signature"):
        connector().verify(Headers(), body, NOW)


@pytest.mark.parametrize("value", [
    "", "sha256=", "sha1=" + "a" * 40, "sha256=" + "z" * 64, "sha256=" + "a" * 63,
    "a" * 64, "sha256 " + "a" * 64, "sha256=" + "a" * 64 + ",sha256=" + "b" * 64,
])
def test_malformed_signature_is_refused(value):
    body = raw(f"{MM}/webhook-issue-created.json")
    with pytest.raises(SignatureError):
        connector().verify(Headers({"X-Hub-Signature": value}), body, NOW)


def test_refusals_never_show_the_secret_or_the_expected_signature():
    body = raw(f"{MM}/webhook-issue-created.json")
    expected = signed(body)["X-Hub-Signature"][7:]
    for headers in (Headers(), Headers({"X-Hub-Signature": "sha256=" + "0" * 64})):
        with pytest.raises(SignatureError) as caught:
            connector().verify(headers, body, NOW)
        assert SECRET not in str(caught.value) and expected not in str(caught.value)


# --- captured bodies -> events --------------------------------------------------------------

SUPPORTED = [
    # issue created: the description is the reporter's first message
    (f"{MM}/webhook-issue-created.json",
     [("created", "TES-41", "new", None, None, "customer", True, "description")]),
    (f"{MM}/webhook-cloud-issue-created-many-fields.json",
     [("created", "KT-22", "new", None, "5cedcb4355a88a0fc86388ba", "customer", True,
       "description")]),
    (f"{JM}/issue_created.json",
     [("created", "BBCOM-1398", "new", None, "5b912f5c8a96e82b9549361c", "customer", True,
       "description")]),
    (f"{JM}/epic_created.json",
     [("created", "DTP-1", "new", None, "5b912f5c8a96e82b9549361c", "customer", True,
       "description")]),
    (f"{MM}/webhook-issue-created-no-description.json",
     [("created", "TES-41", "new", None, None, None, None, None)]),
    # comments, through their jira:issue_updated twin, which carries the reporter
    (f"{MM}/webhook-server-issue-updated-commented-1.json",
     [("message", "PRJX-14", "new", None, "levbrouk", "analyst", True, "10082")]),
    (f"{MM}/webhook-server-issue-updated-commented-2.json",
     [("message", "PRJA-42", "new", None, "dylan", "analyst", True, "10118")]),
    (f"{MM}/webhook-issue-comment-created-indentation.json",
     [("message", "TEST-4", "new", None, None, "customer", True, "10503")]),
    (f"{JM}/issue_updated_commented.json",
     [("message", "BBCOM-956", "open", None, None, "customer", True, "31023")]),
    (f"{MM}/webhook-server-issue-updated-comment-edited.json",
     [("message", "PRJX-14", "new", None, "levbrouk", "analyst", True, "10084")]),
    # status changes
    (f"{MM}/webhook-issue-updated-started-working.json",
     [("status_changed", "TES-41", "open", "new", None, None, None, None)]),
    (f"{JM}/issue_updated_status-changed.json",
     [("status_changed", "INDEV-6", "open", "new", "5b912f1c1aa25f2be7d36947", None, None, None)]),
    (f"{MM}/webhook-issue-updated-resolved.json",
     [("status_changed", "TES-41", "solved", "open", None, None, None, None)]),
    (f"{MM}/webhook-issue-updated-resolved-one-changelog.json",
     [("status_changed", "TES-41", "solved", None, None, None, None, None)]),
    (f"{MM}/webhook-server-issue-updated-resolved.json",
     [("status_changed", "TES-4", "solved", "open", None, None, None, None)]),
    (f"{MM}/webhook-issue-updated-reopened.json",
     [("status_changed", "TES-41", "open", "solved", None, None, None, None)]),
    (f"{MM}/webhook-issue-updated-reopened-one-changelog.json",
     [("status_changed", "TES-41", "open", "solved", None, None, None, None)]),
    (f"{MM}/webhook-server-issue-updated-reopened.json",
     [("status_changed", "TES-4", "open", "solved", "admin", None, None, None)]),
    (f"{MM}/webhook-server-issue-updated-closed.json",
     [("status_changed", "TES-4", "closed", "solved", "admin", None, None, None)]),
    # a resolution set means solved, whatever the status is called
    (f"{JM}/issue_updated_generic.json",
     [("status_changed", "BBCOM-1233", "solved", "open", None, None, None, None)]),
    # assignments
    (f"{MM}/webhook-issue-updated-assigned.json",
     [("assigned", "TES-41", "new", None, "admin", None, None, None)]),
    (f"{MM}/webhook-issue-updated-assigned-on-server.json",
     [("assigned", "PRJA-37", "new", None, "admin", None, None, None)]),
    (f"{JM}/issue_updated_issue-assigned.json",
     [("assigned", "INDEV-242", "new", None, "5b912e21fa38ae2c896099ae", None, None, None)]),
    (f"{MM}/webhook-issue-updated-multiple-values.json",
     [("assigned", "TES-41", "new", None, "5cedcb4355a88a0fc86388ba", None, None, None)]),
    (f"{MM}/webhook-issue-updated-assigned-nobody.json",
     [("assigned", "TES-41", "new", None, None, None, None, None)]),
    (f"{MM}/webhook-issue-assigned-empty-changelog.json",
     [("assigned", "TEST-123", "new", None, "789012", None, None, None)]),
]


@pytest.mark.parametrize("name, expected", SUPPORTED, ids=[n for n, _ in SUPPORTED])
def test_captured_body_becomes_these_events(name, expected):
    assert summary(deliver(name)) == expected


def test_event_carries_subject_tags_times_and_the_comment_text():
    event, = deliver(f"{MM}/webhook-server-issue-updated-commented-2.json").events
    assert event.source == "jira"
    assert event.subject == "test for notifications"
    assert event.message.body == "This is a test comment. We should act on it right away."
    assert event.message.author_id == "testUser"  # Server: the stable user key
    assert event.message.created_at == datetime(2019, 6, 28, 21, 32, 16, 57000, tzinfo=timezone.utc)
    assert event.occurred_at.tzinfo is not None
    created, = deliver(f"{MM}/webhook-cloud-issue-created-many-fields.json").events
    assert created.tags == ("Label1", "Label2")
    assert created.subject == "Lots of fields selected"
    assert created.message.body == "The good description"


def test_every_status_is_one_of_the_plugins_statuses():
    for path in sorted(FIXTURES.glob("*/*.json")):
        for event in deliver(path.read_bytes()).events:
            assert event.status in STATUSES and event.previous_status in (None, *STATUSES)


# Zulip-style: one expectation, checked on the old and the new payload of the same thing.
SAME_THING = [
    (f"{MM}/webhook-server-issue-updated-commented-1.json",
     f"{MM}/webhook-server-old-issue-updated-no-event-type-commented.json"),
    (f"{MM}/webhook-server-issue-updated-comment-edited.json",
     f"{MM}/webhook-server-old-issue-updated-no-event-type-comment-edited.json"),
    (f"{MM}/webhook-issue-updated-assigned.json",
     f"{MM}/webhook-server-old-issue-updated-no-event-type-assigned.json"),
    (f"{MM}/webhook-issue-updated-assigned.json",
     f"{MM}/webhook-issue-updated-assigned-on-server.json"),
    (f"{MM}/webhook-issue-updated-edited.json",
     f"{MM}/webhook-server-old-issue-updated-no-event-type-edited.json"),
    (f"{MM}/webhook-server-issue-updated-comment-deleted.json",
     f"{MM}/webhook-server-old-issue-updated-no-event-type-comment-deleted.json"),
    (f"{MM}/webhook-issue-updated-resolved.json",
     f"{MM}/webhook-server-issue-updated-resolved.json"),
    (f"{MM}/webhook-issue-updated-reopened.json",
     f"{MM}/webhook-server-issue-updated-reopened.json"),
    (f"{MM}/webhook-cloud-comment-created.json", f"{MM}/webhook-server-comment-created.json"),
    (f"{MM}/webhook-cloud-comment-updated.json", f"{MM}/webhook-server-comment-updated.json"),
    (f"{MM}/webhook-cloud-comment-deleted.json", f"{MM}/webhook-server-comment-deleted.json"),
]


def _shape(delivery: Delivery) -> list[tuple]:
    """What must agree across payload versions (ticket keys and assignee ids may differ)."""
    return [(e.kind, e.status, e.previous_status, e.message and e.message.author_role,
             e.message and e.message.public, e.message and e.message.message_id)
            for e in delivery.events]


@pytest.mark.parametrize("new, old", SAME_THING, ids=[o for _, o in SAME_THING])
def test_old_and_new_payloads_mean_the_same(new, old):
    assert _shape(deliver(new)) == _shape(deliver(old))


def test_old_assignment_without_event_type_matches_the_new_one_exactly():
    new = deliver(f"{MM}/webhook-issue-updated-assigned.json").events
    old = deliver(f"{MM}/webhook-server-old-issue-updated-no-event-type-assigned.json").events
    assert [(e.ticket_id, e.assignee) for e in new] == [(e.ticket_id, e.assignee) for e in old]


# --- a comment counts once --------------------------------------------------------------------

def _messages(*deliveries: Delivery) -> set[tuple[str, str]]:
    """The (ticket, message_id) keys the store would keep: it is unique on that pair."""
    return {(e.ticket_id, e.message.message_id) for d in deliveries for e in d.events
            if e.kind == "message"}


def test_comment_and_its_issue_commented_twin_count_once():
    # Comment 10082 on issue 10013 (PRJX-14): Server posts it twice, as a thin comment_created
    # with no issue and as jira:issue_updated/issue_commented with the issue.
    thin = deliver(f"{MM}/webhook-server-comment-created.json")
    twin = deliver(f"{MM}/webhook-server-issue-updated-commented-1.json")
    assert thin.delivery_id != twin.delivery_id
    assert _messages(thin, twin) == {("PRJX-14", "10082")}


def test_comment_edit_and_its_twin_reuse_the_comment_id():
    thin = deliver(f"{MM}/webhook-server-comment-updated.json")
    twin = deliver(f"{MM}/webhook-server-issue-updated-comment-edited.json")
    created = deliver(f"{MM}/webhook-server-old-issue-updated-no-event-type-comment-edited.json")
    assert _messages(thin, twin, created) == {("PRJX-14", "10084")}


def test_decisive_comment_created_and_twin_give_the_same_key_and_role():
    # A JSM customer's comment: accountType decides in both bodies, so whichever arrives
    # first the store keeps the same (ticket, message_id, role).
    def customer(data):
        data["comment"]["author"]["accountType"] = "customer"
    created = deliver(variant(f"{MM}/webhook-cloud-comment-created.json", customer))
    twin = deliver(variant(f"{MM}/webhook-server-issue-updated-commented-1.json", customer))
    assert summary(created) == [("message", "TES-41", "new", None, None, "customer", True, "10019")]
    assert [e.message.author_role for e in twin.events] == ["customer"]
    assert _messages(twin) == {("PRJX-14", "10082")}


def test_thin_cloud_comment_without_account_type_waits_for_its_twin():
    # The author of this comment (accountId 5c5f88...) is TES-41's reporter (see
    # webhook-issue-created.json): only the twin, which carries the reporter, can say
    # "customer". Guessing here would make the role depend on arrival order.
    assert deliver(f"{MM}/webhook-cloud-comment-created.json").events == ()
    assert deliver(f"{MM}/webhook-cloud-comment-created-mention-user.json").events == ()


def test_a_comment_body_that_cannot_stand_alone_says_so_and_how_to_fix_the_webhook():
    # Left unread is not lost silently: the delivery names the comment, its ticket and the fix.
    cloud = deliver(f"{MM}/webhook-cloud-comment-created.json").unread
    assert cloud is not None and cloud.ticket_id == "TES-41"
    assert "comment 10019 on TES-41" in cloud.why and "names no reporter" in cloud.why
    server = deliver(f"{MM}/webhook-server-comment-created.json").unread
    assert server is not None and server.ticket_id == "" and "comment 10082" in server.why
    assert "tick it (connectors/jira/SETUP.md, step 3)" in server.why
    assert deliver(f"{MM}/webhook-server-issue-updated-commented-1.json").unread is None  # the twin reads


# --- roles and visibility ----------------------------------------------------------------------

def _set(path: str, value: Any) -> Callable[[dict], None]:
    def change(data: dict) -> None:
        *parents, last = path.split(".")
        node = data
        for part in parents:
            node = node[part]
        node[last] = value
    return change


CLOUD_COMMENT = f"{MM}/webhook-cloud-comment-created.json"
SERVER_TWIN = f"{MM}/webhook-server-issue-updated-commented-1.json"


def test_jsm_customer_comment_is_a_public_customer_message():
    event, = deliver(variant(CLOUD_COMMENT, _set("comment.author.accountType", "customer"))).events
    assert (event.message.author_role, event.message.public) == ("customer", True)
    assert event.message.author_id == "5c5f880629be9642ba529340"
    assert event.subject == "Unit test summary 1"


def test_jsd_public_false_is_an_internal_comment():
    def internal_app_comment(data):
        data["comment"]["author"]["accountType"] = "app"
        data["comment"]["jsdPublic"] = False
    event, = deliver(variant(CLOUD_COMMENT, internal_app_comment)).events
    assert (event.message.author_role, event.message.public) == ("analyst", False)


def test_jsd_public_wins_over_a_role_restriction():
    # On JSM a `visibility` restriction does not hide a comment from the portal (HELPDESK_FACTS).
    def restricted_but_public(data):
        data["comment"]["author"]["accountType"] = "customer"
        data["comment"]["visibility"] = {"type": "role", "value": "Developers"}
    event, = deliver(variant(CLOUD_COMMENT, restricted_but_public)).events
    assert event.message.public is True


def test_role_restricted_server_comment_is_internal():
    body = variant(SERVER_TWIN, _set("comment.visibility", {"type": "role", "value": "Developers"}))
    event, = deliver(body).events
    assert (event.message.author_role, event.message.public) == ("analyst", False)


def test_our_bot_is_the_plugin_by_account_id():
    body = variant(CLOUD_COMMENT, _set("comment.author.accountType", "app"))
    event, = deliver(body, jira_bot_account_id="5c5f880629be9642ba529340").events
    assert event.message.author_role == "plugin"


def test_our_bot_is_the_plugin_by_server_username():
    event, = deliver(SERVER_TWIN, jira_bot_account_id="levbrouk").events
    assert event.message.author_role == "plugin"


def test_another_app_is_not_the_plugin():
    event, = deliver(variant(CLOUD_COMMENT, _set("comment.author.accountType", "app")),
                     jira_bot_account_id="our-bot").events
    assert event.message.author_role == "analyst"


def test_a_comment_carrying_our_marker_is_the_plugin_even_from_a_thin_body():
    note = f"{NOTE_MARKER} Suggested answer: restart the VPN client."
    for name in (CLOUD_COMMENT, SERVER_TWIN):
        event, = deliver(variant(name, _set("comment.body", note))).events
        assert event.message.author_role == "plugin"


def test_issue_created_by_our_bot_is_the_plugin():
    body = variant(f"{MM}/webhook-issue-created.json",
                   _set("issue.fields.reporter.accountId", "vigil-bot"))
    event, = deliver(body, jira_bot_account_id="vigil-bot").events
    assert (event.kind, event.message.author_role) == ("created", "plugin")


def test_waiting_for_customer_is_pending():
    def waiting(data):
        data["issue"]["fields"]["status"]["name"] = "Waiting for customer"
        data["changelog"]["items"][0]["toString"] = "Waiting for customer"
    event, = deliver(variant(f"{MM}/webhook-issue-updated-started-working.json", waiting)).events
    assert (event.kind, event.status, event.previous_status) == ("status_changed", "pending", "new")


# --- what we acknowledge and do nothing with ---------------------------------------------------

IGNORED = [
    f"{MM}/webhook-issue-deleted.json", f"{MM}/webhook-cloud-comment-deleted.json",
    f"{MM}/webhook-server-comment-deleted.json", f"{JM}/comment_deleted.json",
    f"{MM}/webhook-server-issue-updated-comment-deleted.json",
    f"{JM}/issuelink_created.json", f"{JM}/issuelink_created_relates.json",
    f"{JM}/issuelink_deleted.json", f"{JM}/project_created.json",
    f"{MM}/webhook-issue-updated-labels.json", f"{MM}/webhook-issue-updated-rank.json",
    f"{MM}/webhook-issue-updated-edited.json", f"{MM}/webhook-issue-updated-renamed.json",
    f"{MM}/webhook-cloud-issue-updated-custom-field.json", f"{JM}/issue_updated_move-issue.json",
    f"{JM}/issue_updated_commented-changed.json",
    f"{MM}/webhook-server-issue-updated-in-progress.json",  # Reopened -> In Progress: open both
    # thin comment bodies: their issue_commented twin is the one that counts
    f"{MM}/webhook-server-comment-created.json", f"{JM}/comment_created.json",
    f"{JM}/comment_updated.json",
]


@pytest.mark.parametrize("name", IGNORED)
def test_acknowledged_without_events(name):
    delivery = deliver(name)
    assert delivery.events == () and delivery.source == "jira" and delivery.delivery_id


def test_unknown_event_is_acknowledged_without_events():
    assert deliver(b'{"webhookEvent": "jira:something_new", "timestamp": 1}').events == ()


def test_every_captured_body_parses():
    for path in sorted(FIXTURES.glob("*/*.json")):
        assert isinstance(deliver(path.read_bytes()), Delivery), path.name


# --- delivery ids ------------------------------------------------------------------------------

def test_cloud_delivery_id_is_the_webhook_identifier():
    body = raw(f"{MM}/webhook-issue-created.json")
    headers = signed(body, **{"X-Atlassian-Webhook-Identifier": "wh-123",
                              "X-Atlassian-Webhook-Retry": "2"})
    assert connector().parse(headers, body).delivery_id == "wh-123"


def test_server_delivery_id_is_stable_per_body_and_differs_between_bodies():
    first = raw(f"{MM}/webhook-server-issue-updated-commented-1.json")
    other = raw(f"{MM}/webhook-server-issue-updated-commented-2.json")
    ids = [connector().parse(Headers(), body).delivery_id for body in (first, first, other)]
    assert ids[0] == ids[1] == "sha256:" + hashlib.sha256(first).hexdigest()
    assert ids[2] != ids[0]


# --- malformed bodies ------------------------------------------------------------------------

MALFORMED = [
    (b"not json", "JSON"),
    (b"\xff\xfe\x00", "JSON"),
    (b"[" * 100_000, "JSON"),
    (b"[1, 2]", "object"),
    (b"{}", "webhookEvent"),
    (b'{"webhookEvent": 5}', "webhookEvent"),
    (b'{"webhookEvent": "jira:issue_updated", "timestamp": 1}', "issue.key"),
    (b'{"webhookEvent": "jira:issue_created", "timestamp": 1, "issue": "PROJ-1"}', "issue"),
    (b'{"webhookEvent": "comment_created", "timestamp": 1, "comment": {"id": "1", "body": "x"}}',
     "issue key"),
    (variant(f"{MM}/webhook-issue-created.json", _set("issue.key", "")), "issue.key"),
    (variant(f"{MM}/webhook-issue-created.json", _set("issue.key", 12)), "issue.key"),
    (variant(f"{MM}/webhook-issue-created.json", _set("issue.fields.labels", "a,b")),
     "issue.fields.labels"),
    (variant(f"{MM}/webhook-issue-created.json", _set("issue.fields.labels", [1])),
     "issue.fields.labels"),
    (variant(f"{MM}/webhook-issue-created.json", _set("issue.fields.description", {"type": "doc"})),
     "issue.fields.description"),
    (variant(f"{MM}/webhook-issue-created.json", _set("timestamp", [])), "timestamp"),
    (variant(f"{MM}/webhook-issue-created.json", _set("timestamp", 10**30)), "timestamp"),
    (variant(SERVER_TWIN, _set("comment.body", 5)), "comment.body"),
    (variant(SERVER_TWIN, _set("comment.id", None)), "comment.id"),
    (variant(SERVER_TWIN, _set("comment.author", "levbrouk")), "comment.author"),
    (variant(SERVER_TWIN, _set("comment", [])), "comment"),
    (variant(f"{MM}/webhook-issue-updated-assigned.json", _set("changelog.items", [1])),
     "changelog.items"),
    (variant(f"{MM}/webhook-issue-updated-assigned.json", _set("changelog", "x")), "changelog"),
]


@pytest.mark.parametrize("body, field", MALFORMED, ids=[f for _, f in MALFORMED])
def test_malformed_body_is_bad_payload_naming_the_field(body, field):
    with pytest.raises(BadPayload, match=field.replace(".", r"\.")):
        deliver(body)


def _paths(node: Any, prefix: tuple = ()) -> list[tuple]:
    """Every (key path) inside a JSON value."""
    if isinstance(node, dict):
        items = node.items()
    elif isinstance(node, list):
        items = enumerate(node)
    else:
        return []
    return [p for key, child in items for p in [prefix + (key,), *_paths(child, prefix + (key,))]]


@pytest.mark.parametrize("name", [
    f"{MM}/webhook-server-issue-updated-commented-2.json",
    f"{MM}/webhook-issue-updated-resolved.json", f"{MM}/webhook-issue-created.json",
    f"{MM}/webhook-cloud-comment-created.json", f"{MM}/webhook-issue-assigned-empty-changelog.json",
    f"{MM}/webhook-server-comment-created.json",
])
def test_any_value_of_any_type_anywhere_gives_a_delivery_or_bad_payload(name):
    jira, original = connector(), json.loads(raw(name))
    for path in _paths(original):
        for value in (None, 0, 1.5, "x", [], {}, True, [None], {"": None}):
            data = copy.deepcopy(original)
            node = data
            for key in path[:-1]:
                node = node[key]
            node[path[-1]] = value
            body = json.dumps(data).encode()
            try:
                jira.parse(Headers(), body)
            except BadPayload:
                pass
    for cut in range(0, len(raw(name)), 97):  # truncated bodies
        with pytest.raises(BadPayload):
            jira.parse(Headers(), raw(name)[:cut])
