"""Post internal notes to Jira with the `jira` package (pycontribs), run in the worker."""

from __future__ import annotations

import json
import logging
import re
from contextlib import contextmanager
from typing import Any, Iterator

import requests
from jira import JIRA, JIRAError

from connectors.base import DeliveryError
from connectors.jira import auth
from connectors.jira.render import to_wiki
from connectors.jira.settings import JiraSettings
from connectors.plumbing import http_failure, network_failure

log = logging.getLogger("vigil.connectors.jira")

# Connect / read timeouts in seconds: a hung Jira must not hold a worker forever.
DEFAULT_TIMEOUT = (5.0, 20.0)
# Jira issue keys: project key (letter first, then letters, digits, _) and a number.
_ISSUE_KEY = re.compile(r"[A-Za-z][A-Za-z0-9_]*-[1-9][0-9]*")


class JiraNotes:
    """Posts internal comments; every way of posting it offers is internal by construction."""

    def __init__(self, settings: JiraSettings,
                 timeout: float | tuple[float, float] = DEFAULT_TIMEOUT) -> None:
        self.settings = settings
        self.timeout = timeout
        self._project_types: dict[str, str | None] = {}  # project key -> projectTypeKey
        self._visible_to: set[str] = set()  # projects (or "*" for a group) where it was found

    def post(self, ticket_id: str, body: str) -> str:
        """Post `body` as an internal comment on issue `ticket_id`; return the comment id."""
        check_configured(self.settings, posting=True)
        _check_issue_key(ticket_id)
        with connected(self.settings, self.timeout, ticket_id) as jira:
            self._check_project_type(jira, ticket_id)
            self._check_visibility(jira, ticket_id)
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
        # Plain Jira has no such property: restrict the comment to a staff group or role.
        return {"visibility": visibility(self.settings)}

    def _check_visibility(self, jira: JIRA, ticket_id: str) -> None:
        """On plain Jira, refuse to post unless the role (in this project) or group exists.

        Jira answers 400 to an unknown role, but team-managed projects name their roles
        "Administrator", "Member", "Viewer" (not the default "Administrators"): say so
        before the first note, naming the roles the project has.
        """
        if self.settings.service_management:
            return
        project = ticket_id.rsplit("-", 1)[0].upper()
        key = "*" if self.settings.internal_group.strip() else project
        if key in self._visible_to:
            return
        problem = visibility_problem(jira, self.settings, project)
        if problem:
            raise DeliveryError(f"refusing to post on {ticket_id}: {problem}", retryable=False)
        self._visible_to.add(key)

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


def visibility(settings: JiraSettings) -> dict[str, str]:
    """The `visibility` that hides a comment on plain Jira: the group when set, else the role."""
    group = settings.internal_group.strip()
    return {"type": "group", "value": group} if group else {"type": "role", "value": settings.internal_role.strip()}


def visibility_problem(jira: JIRA, settings: JiraSettings, project: str) -> str | None:
    """Why notes could not be restricted in `project` (the group or role is missing), or None."""
    wanted = visibility(settings)
    if wanted["type"] == "group":
        # GET /rest/api/2/groups/picker?query=<name>: groups whose name contains it
        if wanted["value"] in jira.groups(query=wanted["value"], maxResults=50):
            return None
        return (f"the group {wanted['value']!r} does not exist (or the bot cannot see it): "
                "set VIGIL_JIRA_INTERNAL_GROUP to a staff group")
    roles = sorted(jira.project_roles(project))  # GET /rest/api/2/project/{key}/role
    if wanted["value"] in roles:
        return None
    return (f"project {project} has no role {wanted['value']!r} (its roles: {', '.join(roles) or 'none'}; "
            "team-managed projects call it 'Administrator'): set VIGIL_JIRA_INTERNAL_ROLE to "
            "a staff role of every project, or VIGIL_JIRA_INTERNAL_GROUP")


def check_configured(settings: JiraSettings, *, posting: bool) -> None:
    """Raise DeliveryError(retryable=False) naming every API setting that is missing.

    `posting`: notes on plain Jira also need the staff role or group they are restricted to.
    """
    missing = auth.missing(settings)
    if posting and not settings.service_management and not visibility(settings)["value"]:
        missing.append("VIGIL_JIRA_INTERNAL_ROLE or VIGIL_JIRA_INTERNAL_GROUP (needed on plain Jira)")
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
    return JIRA(server=auth.api_root(settings), **auth.client_auth(settings),
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
        return network_failure("Jira", what, exc)
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
    headers = exc.response.headers if exc.response is not None else {}
    return http_failure("Jira", exc.status_code, what, exc.text or "", headers)
