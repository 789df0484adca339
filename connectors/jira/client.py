"""Post internal notes to Jira with the `jira` package (pycontribs), run in the worker."""

from __future__ import annotations

import json
import logging
import math
import re
from contextlib import contextmanager
from typing import Any, Iterator

import requests
from jira import JIRA, JIRAError

from connectors.base import DeliveryError
from connectors.jira.render import to_wiki
from connectors.jira.settings import JiraSettings

log = logging.getLogger("vigil.connectors.jira")

# Connect / read timeouts in seconds: a hung Jira must not hold a worker forever.
DEFAULT_TIMEOUT = (5.0, 20.0)
# Jira issue keys: project key (letter first, then letters, digits, _) and a number.
_ISSUE_KEY = re.compile(r"[A-Za-z][A-Za-z0-9_]*-[1-9][0-9]*")
# Worth retrying: Jira Cloud retries these itself for webhooks (HELPDESK_FACTS "Retries").
_RETRYABLE_STATUSES = frozenset({408, 409, 425, 429})


class JiraNotes:
    """Posts internal comments; every way of posting it offers is internal by construction."""

    def __init__(self, settings: JiraSettings,
                 timeout: float | tuple[float, float] = DEFAULT_TIMEOUT) -> None:
        self.settings = settings
        self.timeout = timeout
        self._project_types: dict[str, str | None] = {}  # project key -> projectTypeKey

    def post(self, ticket_id: str, body: str) -> str:
        """Post `body` as an internal comment on issue `ticket_id`; return the comment id."""
        check_configured(self.settings, posting=True)
        _check_issue_key(ticket_id)
        with connected(self.settings, self.timeout, ticket_id) as jira:
            self._check_project_type(jira, ticket_id)
            comment = jira.add_comment(ticket_id, to_wiki(body), **self._internal())
        comment_id = comment.raw.get("id") if isinstance(comment.raw, dict) else None
        if not comment_id:  # it may exist: the retry looks for it before posting again
            raise DeliveryError(f"Jira answered without a comment id on {ticket_id}",
                                retryable=True, unsure=True)
        return str(comment_id)

    def find(self, ticket_id: str, ref: str) -> str | None:
        """The id of the issue's comment containing `ref`, or None."""
        check_configured(self.settings, posting=True)
        _check_issue_key(ticket_id)  # it goes into the URL path
        with connected(self.settings, self.timeout, ticket_id) as jira:
            for comment in jira.comments(ticket_id):
                if ref in (getattr(comment, "body", None) or ""):
                    return str(comment.id)
        return None

    def _internal(self) -> dict[str, Any]:
        """Return the add_comment arguments that hide the note from customers."""
        if self.settings.service_management:
            # JSM: only the sd.public.comment property makes a comment internal; a role
            # `visibility` still shows it on the portal (HELPDESK_FACTS "Internal comment").
            return {"is_internal": True}
        # Plain Jira has no such property: restrict the comment to a staff role instead.
        return {"visibility": {"type": "role", "value": self.settings.internal_role}}

    def _check_project_type(self, jira: JIRA, ticket_id: str) -> None:
        """Refuse to post where the configured kind of internal note would be visible."""
        # VIGIL_JIRA_SERVICE_MANAGEMENT defaults to true; on a plain Jira project the
        # sd.public.comment property means nothing and the note would be readable by anyone
        # who can browse the issue. The reverse, a role restriction on a JSM project, still
        # shows the note on the portal. A public note is the one mistake that must not happen.
        project = ticket_id.rsplit("-", 1)[0].upper()
        if project in self._project_types:
            kind = self._project_types[project]
        else:
            found = (jira.issue(ticket_id, fields="project").raw.get("fields") or {}).get("project")
            kind = (found or {}).get("projectTypeKey")
            if str((found or {}).get("key", "")).upper() == project:
                self._project_types[project] = kind  # a moved issue's old key names another
        if kind is None:
            return  # old Server without project types: trust the setting
        is_jsm = kind == "service_desk"
        if is_jsm != self.settings.service_management:
            setting = str(self.settings.service_management).lower()
            raise DeliveryError(
                f"refusing to post on {ticket_id}: project {project} is a '{kind}' project but "
                f"VIGIL_JIRA_SERVICE_MANAGEMENT={setting}; the note would not be internal "
                "(see connectors/jira/SETUP.md)", retryable=False)


def _check_issue_key(ticket_id: str) -> None:
    if not _ISSUE_KEY.fullmatch(ticket_id or ""):
        raise DeliveryError(f"not a Jira issue key: {ticket_id!r}", retryable=False)


def check_configured(settings: JiraSettings, *, posting: bool) -> None:
    """Raise DeliveryError(retryable=False) naming every API setting that is missing.

    `posting`: notes on plain Jira also need the staff role they are restricted to.
    """
    required = (("VIGIL_JIRA_URL", settings.url), ("VIGIL_JIRA_USER", settings.user),
                ("VIGIL_JIRA_TOKEN", settings.token))
    missing = [name for name, value in required if not value.strip()]
    if posting and not settings.service_management and not settings.internal_role.strip():
        missing.append("VIGIL_JIRA_INTERNAL_ROLE (needed on plain Jira)")
    if missing:
        raise DeliveryError(f"Jira API not configured: set {', '.join(missing)}",
                            retryable=False)


def connect(settings: JiraSettings, timeout: float | tuple[float, float] = DEFAULT_TIMEOUT, *,
            server_info: bool = False) -> JIRA:
    """Build the `jira` client every Jira call uses (notes, history).

    server_info=True asks GET /rest/api/2/serverInfo first, so the package knows Cloud from
    Data Center (its search differs between them); posting a note does not need it.
    """
    # max_retries=0: the package's ResilientSession would otherwise sleep and retry
    # 429/503/connection errors inside this call (jira/resilientsession.py); our worker
    # owns the retry policy and must see every failure at once.
    s = settings
    return JIRA(server=s.url, basic_auth=(s.user, s.token),
                get_server_info=server_info, max_retries=0, timeout=timeout,
                options={"rest_api_version": "2", "check_update": False})


@contextmanager
def connected(settings: JiraSettings, timeout: float | tuple[float, float], what: str, *,
              server_info: bool = False) -> Iterator[JIRA]:
    """A `jira` client (see connect), closed afterwards; any failure about `what` on the way,
    building it included, leaves as the DeliveryError callers understand."""
    with jira_errors(what):
        jira = connect(settings, timeout, server_info=server_info)
        try:
            yield jira
        finally:
            jira.close()


@contextmanager
def jira_errors(what: str) -> Iterator[None]:
    """Turn any failure talking to Jira about `what` into a DeliveryError (see as_delivery_error)."""
    try:
        yield
    except Exception as exc:  # the worker only understands DeliveryError
        raise as_delivery_error(exc, what) from None


def as_delivery_error(exc: BaseException, what: str) -> DeliveryError:
    """Any failure talking to Jira about `what`, as the DeliveryError callers understand."""
    if isinstance(exc, DeliveryError):
        return exc
    if isinstance(exc, JIRAError):
        return _translate(exc, what)
    if isinstance(exc, (requests.ConnectionError, requests.Timeout)):  # it may have reached Jira
        return DeliveryError(f"Jira unreachable during {what}: {type(exc).__name__}", retryable=True,
                             unsure=True)
    if isinstance(exc, json.JSONDecodeError):  # a comment may have been posted: look before a retry
        return DeliveryError(f"Jira gave an unreadable answer to {what}", retryable=True, unsure=True)
    if isinstance(exc, requests.RequestException):  # a bad URL or similar: same result next time
        return DeliveryError(f"Jira request failed during {what}: {type(exc).__name__}", retryable=False)
    log.error("unexpected failure talking to Jira about %s", what, exc_info=exc)
    return DeliveryError(f"unexpected {type(exc).__name__} during {what}", retryable=False)


def _translate(exc: JIRAError, what: str) -> DeliveryError:
    """Map a Jira HTTP failure onto retryable or not; never quote headers (they hold the token)."""
    # str(JIRAError) includes the request headers, Authorization among them: use only the
    # status and Jira's own error text.
    status = exc.status_code
    detail = f"Jira answered {status} on {what}" + (f": {exc.text}" if exc.text else "")
    if status is None or status >= 500 or status in _RETRYABLE_STATUSES:
        headers = exc.response.headers if exc.response is not None else {}
        retry_after = _retry_after(headers.get("Retry-After"))
        return DeliveryError(detail, retryable=True, retry_after=retry_after,
                             unsure=status is None or status >= 500)
    return DeliveryError(detail, retryable=False)  # 400/401/403/404/422: fails again as sent


def _retry_after(value: str | None) -> float | None:
    """Return Retry-After in seconds (Jira Cloud sends seconds, HELPDESK_FACTS "Rate limits")."""
    try:
        seconds = float(value) if value is not None else None
    except ValueError:
        return None  # an HTTP-date or garbage: let the worker's backoff decide
    return seconds if seconds is not None and math.isfinite(seconds) and seconds >= 0 else None
