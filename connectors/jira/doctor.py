"""`vigil doctor` for Jira: do the credentials work, as the bot account, can it comment, and
does the role or group that hides notes exist?

Calls, through the notes' own client (client.connected), all GET but the test note:
- /rest/api/2/myself: who the credentials are;
- /rest/api/2/mypermissions?permissions=ADD_COMMENTS: may it comment (in some project);
- plain Jira only: /rest/api/2/groups/picker?query=<group>, or /rest/api/2/project and
  /rest/api/2/project/{key}/role for each project it can see (team-managed projects name
  their roles "Administrator", "Member", "Viewer": the default "Administrators" is missing);
- the test note: POST /rest/api/2/issue/{key}/comment, then
  GET /rest/api/2/issue/{key}/comment/{id}?expand=properties to read it back.
"""

from __future__ import annotations

from typing import Any

from jira import JIRA

from connectors.base import Check, DeliveryError
from connectors.jira import auth
from connectors.jira.client import (JiraNotes, check_configured, connected, visibility,
                                    visibility_problem)
from connectors.jira.settings import JiraSettings

TEST_NOTE = ("vigil doctor: test note, posted to check that the plugin's notes stay internal. "
             "Safe to delete.")
MAX_PROJECTS = 50  # role checks per run: enough for a helpdesk, bounded for a large site


def doctor(settings: JiraSettings, timeout: Any) -> list[Check]:
    """The Jira checks, in the order an admin fixes them."""
    name = "jira: credentials"
    try:
        check_configured(settings, posting=False)
    except DeliveryError as exc:
        return [Check(name, False, str(exc), "set them (connectors/jira/SETUP.md, step 2)")]
    checks = [Check(name, True, auth.describe(settings))]
    try:
        with connected(settings, timeout, "GET /rest/api/2/myself") as jira:
            me = jira.myself()
    except DeliveryError as exc:
        return [*checks, Check("jira: who am I", False, str(exc), _fix_for(settings, exc))]
    checks += [_who(me), _bot_user(settings, me)]
    # Each remaining question on its own: one refused call must not hide the others.
    for name, probe in ((_visibility_name(settings), _visibility), ("jira: can comment", _can_comment)):
        try:
            with connected(settings, timeout, name) as jira:
                checks.append(probe(jira, settings))
        except DeliveryError as exc:
            checks.append(Check(name, False, str(exc), _fix_for(settings, exc)))
    return checks


def post_test_note(notes: JiraNotes, ticket_id: str) -> Check:
    """Post one internal comment on a sandbox issue and read it back: it must be internal."""
    name = f"jira: test note on {ticket_id}"
    try:
        comment_id = notes.post(ticket_id, TEST_NOTE)
        with connected(notes.settings, notes.timeout, f"comment {comment_id} of {ticket_id}") as jira:
            raw = jira.comment(ticket_id, comment_id, expand="properties").raw
    except DeliveryError as exc:
        return Check(name, False, str(exc), "use a sandbox issue the bot can comment on")
    why_public = _public(notes.settings, raw)
    if why_public:  # the one mistake that must never happen
        return Check(name, False, f"comment {comment_id} is visible to customers: {why_public}",
                     "delete it now, then check VIGIL_JIRA_SERVICE_MANAGEMENT and the role or group")
    return Check(name, True, f"comment {comment_id} posted and read back as internal")


def _who(me: dict[str, Any]) -> Check:
    who = me.get("accountId") or me.get("key") or me.get("name")
    return Check("jira: who am I", bool(who), f"{me.get('displayName')} ({who})"
                 if who else "Jira answered without an account", "check VIGIL_JIRA_URL")


def _bot_user(settings: JiraSettings, me: dict[str, Any]) -> Check:
    name, configured = "jira: bot user", settings.bot_account_id.strip()
    ids = [str(me[key]) for key in ("accountId", "key", "name") if me.get(key)]
    if configured and configured in ids:
        return Check(name, True, f"jira_bot_account_id is {configured}, the account these credentials act as")
    detail = (f"jira_bot_account_id is {configured!r} but the credentials act as {ids[0] if ids else '?'}"
              if configured else "jira_bot_account_id is not set: the plugin could answer its own notes")
    return Check(name, False, detail, f"set VIGIL_JIRA_BOT_ACCOUNT_ID={ids[0] if ids else ''}")


def _visibility_name(settings: JiraSettings) -> str:
    if settings.service_management:
        return "jira: internal notes"
    wanted = visibility(settings)
    return f"jira: {wanted['type']} {wanted['value']!r}"


def _visibility(jira: JIRA, settings: JiraSettings) -> Check:
    name = _visibility_name(settings)
    if settings.service_management:
        return Check(name, True, "Service Management: notes carry the sd.public.comment "
                     "property, hidden from the portal")
    wanted = visibility(settings)
    if wanted["type"] == "group":
        problem = visibility_problem(jira, settings, "")
        return Check(name, problem is None, problem or "the group exists",
                     "create the group or set VIGIL_JIRA_INTERNAL_GROUP")
    projects = [p.key for p in jira.projects()][:MAX_PROJECTS]
    problems = [p for p in (visibility_problem(jira, settings, key) for key in projects) if p]
    if problems:
        return Check(name, False, "; ".join(problems),
                     "set VIGIL_JIRA_INTERNAL_ROLE to a staff role every project has, or "
                     "VIGIL_JIRA_INTERNAL_GROUP to a staff group")
    return Check(name, True, f"exists in the {len(projects)} project(s) the bot can see")


def _can_comment(jira: JIRA, settings: JiraSettings) -> Check:
    granted = jira.my_permissions(permissions="ADD_COMMENTS")["permissions"]["ADD_COMMENTS"]
    ok = granted.get("havePermission") in (True, "true")
    return Check("jira: can comment", ok, "may add comments" if ok else "may not add comments",
                 "give the bot account a project role with the Add Comments permission")


def _public(settings: JiraSettings, comment: dict[str, Any]) -> str | None:
    """Why customers could read `comment`, or None when it is internal."""
    if settings.service_management:
        internal = any(p.get("key") == "sd.public.comment" and (p.get("value") or {}).get("internal") is True
                       for p in comment.get("properties") or [] if isinstance(p, dict))
        if comment.get("jsdPublic") is True or not internal:
            return "it has no sd.public.comment {internal: true} property"
        return None
    restricted = comment.get("visibility") or {}
    wanted = visibility(settings)
    if restricted.get("type") == wanted["type"] and restricted.get("value") == wanted["value"]:
        return None
    return f"its visibility is {restricted or 'unrestricted'}, not the {wanted['type']} {wanted['value']!r}"


def _fix_for(settings: JiraSettings, exc: DeliveryError) -> str:
    text = str(exc)
    if "401" in text:
        if settings.auth == "scoped-token":
            return ("check the service account's e-mail, its scoped token (expired?) and "
                    "VIGIL_JIRA_CLOUD_ID (connectors/jira/SETUP.md, step 2)")
        return ("the token is refused: Atlassian API tokens expire within a year; create a new "
                "one and set VIGIL_JIRA_TOKEN (connectors/jira/SETUP.md, step 2)")
    if "403" in text:
        return "give the bot account access to Jira (a product seat) and Browse projects"
    return "check VIGIL_JIRA_URL and that Jira is reachable from this machine"
