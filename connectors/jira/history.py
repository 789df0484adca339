"""Read resolved Jira issues back as recorded conversations (plugin/replay.py).

The calls, all GET, through the same `jira` client as the notes (client.connect, no retries):

1. /rest/api/2/serverInfo (the package asks it when built with server_info=True): Cloud and
   Data Center search differently, and only serverInfo's deploymentType tells them apart;
2. /rest/api/2/field, once: the package reads it to translate the field names we ask for;
3. the search, JQL `resolved >= "yyyy/MM/dd HH:mm" ORDER BY resolved ASC` with the fields
   below, 100 issues a page:
   - Cloud: /rest/api/2/search/jql, following `nextPageToken` (Atlassian removed
     /rest/api/2/search from Cloud in 2025, CHANGE-2046: it answers 410 Gone there, and the
     package refuses startAt > 0 on Cloud);
   - Data Center / Server: /rest/api/2/search, following startAt until `total`;
4. /rest/api/2/issue/{key}/comment, only for an issue whose comment field came back
   truncated (`total` larger than the comments listed).

JQL reads a date in the time zone of the API user's profile, which we do not know: the query
starts a day early, and each issue's resolutiondate (which carries its offset) decides.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any, Iterator

from jira import JIRA

from connectors.base import utc
from connectors.jira.client import DEFAULT_TIMEOUT, check_configured, connected, jira_errors
from connectors.jira.webhook import _comment_role, _is_plugin, _is_public, _jira_time
from connectors.jira.settings import JiraSettings

log = logging.getLogger("vigil.connectors.jira")

PAGE_SIZE = 100  # Jira Cloud's largest page when fields are asked for
FIELDS = ["summary", "status", "labels", "reporter", "created", "resolutiondate", "comment",
          "description"]
# Every offset a Jira user's time zone can have (-12:00 .. +14:00) fits in a day.
_ZONE_MARGIN = timedelta(days=1)


def fetch_resolved(settings: JiraSettings, since: datetime, limit: int = 1000, *,
                   timeout: float | tuple[float, float] = DEFAULT_TIMEOUT) -> list[dict[str, Any]]:
    """Return up to `limit` issues resolved since `since` (oldest first), as conversations.

    Each is a replay line (source, ticket_id, subject, status, tags, messages oldest first)
    plus "notes": the plugin's own comments, kept apart from the messages. A naive `since`
    is taken as UTC. Raise DeliveryError: retryable (with retry_after on a 429) when waiting
    can help, not retryable for missing settings or a refused request.
    """
    if limit <= 0:
        return []
    check_configured(settings, posting=False)
    since = utc(since)
    jql = f'resolved >= "{(since - _ZONE_MARGIN):%Y/%m/%d %H:%M}" ORDER BY resolved ASC'
    conversations: list[dict[str, Any]] = []
    with connected(settings, timeout, "the resolved-issue search", server_info=True) as jira:
        for issue in _search(jira, jql):
            resolved = _jira_time((issue.get("fields") or {}).get("resolutiondate"))
            if resolved is not None and resolved < since:
                continue  # inside the day the query adds for time zones
            with jira_errors(str(issue.get("key"))):
                conversation = _conversation(jira, issue, settings.bot_account_id)
            if conversation is None:
                continue
            conversations.append(conversation)
            if len(conversations) >= limit:
                break  # stop before asking for another page
    return conversations


def _search(jira: JIRA, jql: str) -> Iterator[dict[str, Any]]:
    """Yield the raw issues the JQL finds, one page at a time."""
    if jira.deploymentType == "Cloud":
        token = None
        while True:
            page = jira.enhanced_search_issues(jql, nextPageToken=token, maxResults=PAGE_SIZE,
                                               fields=list(FIELDS), json_result=True)
            yield from page.get("issues") or []
            token = page.get("nextPageToken")
            if not token or page.get("isLast") is True:
                return
    start = 0
    while True:
        page = jira.search_issues(jql, startAt=start, maxResults=PAGE_SIZE,
                                  fields=list(FIELDS), json_result=True)
        issues = page.get("issues") or []
        yield from issues
        start += len(issues)
        if not issues or start >= int(page.get("total") or 0):
            return


def _conversation(jira: JIRA, issue: dict[str, Any], bot_id: str) -> dict[str, Any] | None:
    """Return the issue as a replay conversation, or None when there is nothing to replay."""
    key = str(issue.get("key") or "")
    fields = issue.get("fields") or {}
    reporter = fields.get("reporter") if isinstance(fields.get("reporter"), dict) else None
    messages: list[dict[str, Any]] = []
    notes: list[dict[str, Any]] = []

    description = fields.get("description")
    created = _jira_time(fields.get("created"))
    if isinstance(description, str) and description.strip() and created is not None:
        # The description is the reporter's first message, as jira:issue_created makes it.
        if _is_plugin(reporter or {}, description, bot_id):
            notes.append({"body": description, "created_at": created.isoformat()})
        else:
            messages.append({"author_role": "customer", "public": True, "body": description,
                             "created_at": created.isoformat()})

    for comment in _comments(jira, key, fields.get("comment")):
        body = comment.get("body")
        when = _jira_time(comment.get("created"))
        if not isinstance(body, str) or when is None:
            log.warning("skipping unreadable comment %s on %s", comment.get("id"), key)
            continue
        author = comment["author"] if isinstance(comment.get("author"), dict) else {}
        role = _comment_role(author, reporter, body, bot_id)
        if role == "plugin":
            notes.append({"body": body, "created_at": when.isoformat()})
            continue
        # The webhook only returns None for a body without the reporter; here the issue is
        # complete, so None means the issue has no reporter: nobody is the customer.
        messages.append({"author_role": role or "analyst", "public": _is_public(comment),
                         "body": body, "created_at": when.isoformat()})

    if not key or not messages:
        log.info("Jira issue %s has nothing to replay besides the plugin's notes", key)
        return None
    messages.sort(key=lambda m: datetime.fromisoformat(m["created_at"]))
    notes.sort(key=lambda n: datetime.fromisoformat(n["created_at"]))
    status = str((fields.get("status") or {}).get("name") or "")
    labels = fields.get("labels") or []
    return {"source": "jira", "ticket_id": key, "subject": str(fields.get("summary") or ""),
            "status": "closed" if status.lower() == "closed" else "solved",
            "tags": [str(label) for label in labels], "messages": messages, "notes": notes}


def _comments(jira: JIRA, key: str, field: Any) -> list[dict[str, Any]]:
    """Return every comment of the issue: the search's, or all of them when it cut them short."""
    listed = (field or {}).get("comments") if isinstance(field, dict) else None
    listed = [c for c in (listed or []) if isinstance(c, dict)]
    total = field.get("total") if isinstance(field, dict) else None
    if isinstance(total, int) and total > len(listed):
        return [c.raw for c in jira.comments(key) if isinstance(c.raw, dict)]
    return listed
