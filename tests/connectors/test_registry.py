"""The registry of helpdesks: each owns its settings and secrets; connectors never import plugin."""

from __future__ import annotations

import ast
import dataclasses
import subprocess
import sys
from pathlib import Path

import pytest

import connectors
from connectors.base import Connector
from connectors.settings import secret_fields
from plugin.settings import SECRET_FIELDS, Settings, SettingsError, load_settings

ROOT = Path(__file__).resolve().parents[2]


def test_every_registered_helpdesk_has_settings_and_a_connector_built_from_them() -> None:
    classes, connector_classes = connectors.settings_classes(), connectors.available()
    assert set(classes) == set(connector_classes) == {"zendesk", "jira"}
    for name, cls in connector_classes.items():
        assert issubclass(cls, Connector) and cls.name == name
        assert dataclasses.is_dataclass(classes[name])
        assert "webhook_secret" in secret_fields(classes[name])  # every helpdesk signs its webhooks


def test_each_helpdesk_says_where_an_agent_opens_a_ticket() -> None:
    """Learning links proposals to their tickets through this, knowing no vendor itself."""
    for cls in connectors.settings_classes().values():
        assert cls().ticket_url("7") is None  # no site configured: no link to invent
    settings = Settings(zendesk_url="https://acme.zendesk.com/", jira_url="https://acme.atlassian.net")
    assert settings.helpdesks["zendesk"].ticket_url("101") == "https://acme.zendesk.com/agent/tickets/101"
    assert settings.helpdesks["jira"].ticket_url("SUP-4") == "https://acme.atlassian.net/browse/SUP-4"


def test_helpdesk_secrets_come_from_their_settings_classes() -> None:
    for name, cls in connectors.settings_classes().items():
        for field in secret_fields(cls):
            assert f"{name}_{field}" in SECRET_FIELDS
    assert {"zendesk_oauth_client_secret", "zendesk_token", "jira_token"} <= SECRET_FIELDS
    assert "zendesk_url" not in SECRET_FIELDS


def test_flat_names_reach_each_helpdesks_own_settings() -> None:
    settings = Settings(zendesk_url="https://acme.zendesk.com", jira_cloud_id="c0ffee")
    assert settings.helpdesks["zendesk"].url == settings.zendesk_url == "https://acme.zendesk.com"
    assert settings.helpdesks["jira"].cloud_id == "c0ffee"
    changed = settings.replace(jira_user="bot@example.org", shadow=True)
    assert (changed.jira_user, changed.jira_cloud_id, changed.shadow) == ("bot@example.org", "c0ffee", True)
    assert settings.jira_user == ""  # replace made a new one
    with pytest.raises(TypeError, match="zendesk_tokn"):
        Settings(zendesk_tokn="x")
    with pytest.raises(AttributeError, match="jira_nope"):
        _ = settings.jira_nope


def test_environment_and_file_set_helpdesk_settings_with_their_types(tmp_path: Path) -> None:
    config = tmp_path / "vigil.toml"
    config.write_text('[vigil]\njira_service_management = false\nzendesk_url = "https://a.zendesk.com"\n')
    settings = load_settings(config, environ={"VIGIL_ZENDESK_OAUTH_CLIENT_ID": "vigil",
                                              "VIGIL_ZENDESK_WEBHOOK_MAX_AGE_SECONDS": "60"})
    zendesk = settings.helpdesks["zendesk"]
    assert (zendesk.oauth_client_id, zendesk.webhook_max_age_seconds, zendesk.url) == (
        "vigil", 60, "https://a.zendesk.com")
    assert settings.helpdesks["jira"].service_management is False
    with pytest.raises(SettingsError, match="zendesk_webhook_max_age_seconds"):
        load_settings(config, environ={"VIGIL_ZENDESK_WEBHOOK_MAX_AGE_SECONDS": "soon"})
    config.write_text('[vigil]\njira_cloudid = "x"\n')
    with pytest.raises(SettingsError, match="jira_cloudid"):
        load_settings(config, environ={})


def test_helpdesk_secrets_are_never_shown() -> None:
    settings = Settings(zendesk_oauth_client_secret="SHH-1", jira_token="SHH-2", zendesk_token="SHH-3")
    for shown in (repr(settings), str(settings.redacted()), repr(settings.helpdesks),
                  repr(settings.helpdesks["zendesk"]), repr(settings.helpdesks["jira"])):
        assert "SHH-" not in shown
    assert settings.redacted()["zendesk_oauth_client_secret"] == "***"
    assert settings.redacted()["zendesk_oauth_scopes"] == "read tickets:write"


def test_settings_stay_hashable_and_comparable() -> None:
    assert Settings(jira_user="a") == Settings(jira_user="a") != Settings(jira_user="b")
    assert hash(Settings(jira_user="a")) == hash(Settings(jira_user="a"))


def test_connectors_never_import_the_plugin() -> None:
    """Direction plugin -> connectors only: a connector sees its settings and the event types."""
    offenders = []
    for path in (ROOT / "connectors").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            names = ([alias.name for alias in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            offenders += [f"{path.relative_to(ROOT)}: {n}" for n in names
                          if n == "plugin" or n.startswith("plugin.")]
    assert offenders == []


def test_reading_the_settings_imports_no_vendor_client() -> None:
    # The CLI reads the settings for every command; zenpy and jira cost ~0.3 s to import.
    code = ("import sys, plugin.settings; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('zenpy', 'jira')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=ROOT).stdout
    assert out.strip() == "[]"
