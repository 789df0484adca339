"""Jira credentials (Cloud API token, scoped token through the gateway, Data Center PAT), the
visibility role or group checked before the first note, and `vigil doctor`'s Jira checks,
all through the real `jira` package against a loopback server."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from connectors.base import ConfigurationError
from connectors.jira import JiraConnector
from connectors.jira.render import to_wiki
from plugin.settings import Settings
from tests.connectors.jira_api import TOKEN, USER, failure
from tests.connectors.test_jira_client import COMMENTS, ISSUE, KEY, NOTE, project
from tests.fakehttp import FakeServer, Reply

CLOUD_ID = "a436116f-02ce-4520-8fbb-7301462a1674"
GATEWAY = f"/ex/jira/{CLOUD_ID}"
BOT = "5b10ac8d82e05b22cc7d4ef5"
MYSELF = {"accountId": BOT, "accountType": "app", "displayName": "Vigil Bot", "active": True}
MAY_COMMENT = {"permissions": {"ADD_COMMENTS": {"id": "15", "key": "ADD_COMMENTS", "havePermission": True}}}
# GET /rest/api/2/project/{key}/role: role name -> its URL. A team-managed project's roles:
TEAM_MANAGED_ROLES = {name: f"https://acme.atlassian.net/rest/api/2/project/10000/role/{n}"
                      for n, name in enumerate(["Administrator", "Member", "Viewer"], 10100)}
COMPANY_MANAGED_ROLES = {name: f"https://acme.atlassian.net/rest/api/2/project/10001/role/{n}"
                         for n, name in enumerate(["Administrators", "Developers", "Service Desk Team"], 10002)}


def connector(server: FakeServer, **settings: Any) -> JiraConnector:
    values = {"jira_webhook_secret": "s", "jira_url": server.url, "jira_user": USER,
              "jira_token": TOKEN, "jira_bot_account_id": BOT, **settings}
    return JiraConnector(Settings(**values).helpdesks["jira"], timeout=(2.0, 5.0))


def basic() -> str:
    return "Basic " + base64.b64encode(f"{USER}:{TOKEN}".encode()).decode()


# --- the three kinds of credentials --------------------------------------------------------

def test_scoped_token_goes_through_the_gateway_with_basic_auth(server: FakeServer) -> None:
    server.script("GET", GATEWAY + ISSUE, project("service_desk"))
    server.script("POST", GATEWAY + COMMENTS, Reply(201, {"id": "10600"}))
    jira = connector(server, jira_auth="scoped-token", jira_cloud_id=CLOUD_ID,
                     jira_gateway_url=server.url, jira_url="https://acme.atlassian.net")
    assert jira.post_internal_note(KEY, NOTE) == "10600"
    (post,) = server.received("POST", GATEWAY + COMMENTS)
    assert post.headers["Authorization"] == basic()
    assert post.json()["body"] == to_wiki(NOTE)
    assert all(r.path.startswith(GATEWAY + "/rest/api/2/") for r in server.requests)


def test_data_center_personal_access_token_is_a_bearer_token(server: FakeServer) -> None:
    server.script("GET", ISSUE, project("service_desk"))
    server.script("POST", COMMENTS, Reply(201, {"id": "10601"}))
    jira = connector(server, jira_auth="pat", jira_user="")
    assert jira.post_internal_note(KEY, NOTE) == "10601"
    assert {r.headers["Authorization"] for r in server.requests} == {f"Bearer {TOKEN}"}


def test_cloud_api_token_stays_basic_on_the_site(server: FakeServer) -> None:
    server.script("GET", ISSUE, project("service_desk"))
    server.script("POST", COMMENTS, Reply(201, {"id": "10602"}))
    connector(server).post_internal_note(KEY, NOTE)
    assert {r.headers["Authorization"] for r in server.requests} == {basic()}


@pytest.mark.parametrize("settings, named", [
    ({"jira_auth": "scoped-token"}, "VIGIL_JIRA_CLOUD_ID"),
    ({"jira_auth": "pat", "jira_token": ""}, "VIGIL_JIRA_TOKEN"),
])
def test_each_mode_names_what_it_still_needs(server: FakeServer, settings: dict, named: str) -> None:
    error = failure(lambda: connector(server, **settings).post_internal_note(KEY, NOTE))
    assert error.retryable is False and named in str(error) and server.requests == []


@pytest.mark.parametrize("settings, problem", [
    ({"jira_auth": "oauth"}, "jira_auth must be one of"),
    ({"jira_auth": "scoped-token", "jira_cloud_id": "../../evil"}, "jira_cloud_id"),
    ({"jira_auth": "scoped-token", "jira_gateway_url": "http://api.example.com"}, "jira_gateway_url"),
])
def test_unusable_auth_settings_are_refused_at_start(server: FakeServer, settings: dict,
                                                     problem: str) -> None:
    with pytest.raises(ConfigurationError, match=problem):
        connector(server, **settings)


# --- the visibility role or group, checked before the first note on plain Jira -------------

def test_a_team_managed_project_without_the_role_is_refused_naming_its_roles(server: FakeServer) -> None:
    server.script("GET", ISSUE, project("software"))
    server.script("GET", "/rest/api/2/project/SUP/role", Reply(200, TEAM_MANAGED_ROLES))
    server.script("POST", COMMENTS, Reply(201, {"id": "1"}))
    error = failure(lambda: connector(server, jira_service_management=False).post_internal_note(KEY, NOTE))
    assert error.retryable is False
    assert "'Administrators'" in str(error) and "Administrator, Member, Viewer" in str(error)
    assert "VIGIL_JIRA_INTERNAL_ROLE" in str(error)
    assert server.received("POST", COMMENTS) == []  # never posted unrestricted


def test_the_role_is_looked_up_once_per_project(server: FakeServer) -> None:
    server.script("GET", ISSUE, project("software"))
    server.script("GET", "/rest/api/2/project/SUP/role", Reply(200, COMPANY_MANAGED_ROLES))
    server.script("POST", COMMENTS, Reply(201, {"id": "1"}))
    jira = connector(server, jira_service_management=False)
    jira.post_internal_note(KEY, NOTE)
    jira.post_internal_note(KEY, NOTE)
    assert len(server.received("GET", "/rest/api/2/project/SUP/role")) == 1
    assert server.received("POST", COMMENTS)[0].json()["visibility"] == {"type": "role", "value": "Administrators"}


def test_a_group_restricts_the_note_when_set_and_must_exist(server: FakeServer) -> None:
    server.script("GET", ISSUE, project("software"))
    server.script("GET", "/rest/api/2/groups/picker", Reply(200, {"header": "", "total": 1, "groups": [
        {"name": "support-staff", "html": "<b>support-staff</b>"}]}))
    server.script("POST", COMMENTS, Reply(201, {"id": "2"}))
    jira = connector(server, jira_service_management=False, jira_internal_group="support-staff")
    assert jira.post_internal_note(KEY, NOTE) == "2"
    assert server.received("POST", COMMENTS)[0].json()["visibility"] == {"type": "group", "value": "support-staff"}
    missing = connector(server, jira_service_management=False, jira_internal_group="staff")
    error = failure(lambda: missing.post_internal_note(KEY, NOTE))
    assert "group 'staff' does not exist" in str(error) and error.retryable is False


# --- vigil doctor ---------------------------------------------------------------------------

def script_healthy(server: FakeServer, prefix: str = "") -> None:
    server.script("GET", prefix + "/rest/api/2/myself", Reply(200, MYSELF))
    server.script("GET", prefix + "/rest/api/2/mypermissions", Reply(200, MAY_COMMENT))
    server.script("GET", prefix + "/rest/api/2/project", Reply(200, [
        {"id": "10001", "key": "SUP", "name": "Support", "self": "x"},
        {"id": "10000", "key": "TEAM", "name": "Team", "self": "y"}]))
    server.script("GET", prefix + "/rest/api/2/project/SUP/role", Reply(200, COMPANY_MANAGED_ROLES))
    server.script("GET", prefix + "/rest/api/2/project/TEAM/role", Reply(200, COMPANY_MANAGED_ROLES))


def failed(checks: list) -> list:
    return [c for c in checks if not c.ok]


def test_doctor_is_all_green_with_good_settings(server: FakeServer) -> None:
    script_healthy(server)
    checks = connector(server, jira_service_management=False).doctor()
    assert failed(checks) == []
    assert [c.name for c in checks] == ["jira: credentials", "jira: who am I", "jira: bot user",
                                        "jira: role 'Administrators'", "jira: can comment"]
    assert "Vigil Bot" in checks[1].detail
    assert "ADD_COMMENTS" in server.received("GET", "/rest/api/2/mypermissions")[0].path


def test_doctor_through_the_gateway(server: FakeServer) -> None:
    script_healthy(server, GATEWAY)
    checks = connector(server, jira_auth="scoped-token", jira_cloud_id=CLOUD_ID,
                       jira_gateway_url=server.url).doctor()
    assert failed(checks) == [] and "gateway" in checks[0].detail


@pytest.mark.parametrize("change, red, fix", [
    ({"jira_bot_account_id": "someone-else"}, "jira: bot user", f"VIGIL_JIRA_BOT_ACCOUNT_ID={BOT}"),
    ({"jira_bot_account_id": ""}, "jira: bot user", f"VIGIL_JIRA_BOT_ACCOUNT_ID={BOT}"),
    ({"jira_internal_role": "Staff"}, "jira: role 'Staff'", "VIGIL_JIRA_INTERNAL_ROLE"),
    ({"jira_token": ""}, "jira: credentials", "SETUP.md"),
])
def test_doctor_gives_one_red_line_per_wrong_setting(server: FakeServer, change: dict, red: str,
                                                     fix: str) -> None:
    script_healthy(server)
    checks = connector(server, jira_service_management=False, **change).doctor()
    (bad,) = failed(checks)
    assert bad.name == red and fix in bad.fix


def test_doctor_names_the_team_managed_project_missing_the_role(server: FakeServer) -> None:
    script_healthy(server)
    server.script("GET", "/rest/api/2/project/TEAM/role", Reply(200, TEAM_MANAGED_ROLES))
    (bad,) = failed(connector(server, jira_service_management=False).doctor())
    assert "project TEAM has no role 'Administrators'" in bad.detail and "SUP" not in bad.detail


def test_doctor_on_a_refused_token_says_tokens_expire(server: FakeServer) -> None:
    server.script("GET", "/rest/api/2/myself", Reply(401, {"errorMessages": ["Unauthorized"]}))
    (bad,) = failed(connector(server).doctor())
    assert bad.name == "jira: who am I" and "expire" in bad.fix and TOKEN not in bad.detail


def test_doctor_without_comment_permission(server: FakeServer) -> None:
    script_healthy(server)
    server.script("GET", "/rest/api/2/mypermissions", Reply(200, {"permissions": {"ADD_COMMENTS": {
        "key": "ADD_COMMENTS", "havePermission": False}}}))
    (bad,) = failed(connector(server).doctor())
    assert bad.name == "jira: can comment" and "Add Comments" in bad.fix


def test_test_note_is_read_back_as_internal(server: FakeServer) -> None:
    server.script("GET", ISSUE, project("service_desk"))
    server.script("POST", COMMENTS, Reply(201, {"id": "10700"}))
    server.script("GET", f"{COMMENTS}/10700", Reply(200, {
        "id": "10700", "body": "vigil doctor", "jsdPublic": False,
        "properties": [{"key": "sd.public.comment", "value": {"internal": True}}]}))
    check = connector(server).post_test_note(KEY)
    assert check.ok, check
    assert "expand=properties" in server.received("GET", f"{COMMENTS}/10700")[0].path


def test_a_test_note_that_came_back_public_is_red(server: FakeServer) -> None:
    server.script("GET", ISSUE, project("service_desk"))
    server.script("POST", COMMENTS, Reply(201, {"id": "10701"}))
    server.script("GET", f"{COMMENTS}/10701", Reply(200, {"id": "10701", "body": "x", "jsdPublic": True}))
    check = connector(server).post_test_note(KEY)
    assert not check.ok and "visible to customers" in check.detail and "delete it" in check.fix


def test_one_refused_question_does_not_hide_the_others(server: FakeServer) -> None:
    script_healthy(server)
    server.script("GET", "/rest/api/2/project", Reply(403, {"errorMessages": ["Forbidden"]}))
    checks = connector(server, jira_service_management=False).doctor()
    (bad,) = failed(checks)
    assert bad.name == "jira: role 'Administrators'" and "403" in bad.detail
    assert checks[-1].name == "jira: can comment" and checks[-1].ok
