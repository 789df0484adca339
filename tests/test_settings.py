"""Settings from the environment, including secrets mounted as files (VIGIL_<NAME>_FILE)."""

from __future__ import annotations

import pytest

from plugin.settings import SettingsError, load_settings


@pytest.fixture
def no_config(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # no stray vigil.toml
    return tmp_path


def test_a_secret_is_read_from_the_file_its_variable_names(no_config):
    secret = no_config / "zendesk_token"
    secret.write_text("s3cr3t-token\n")  # as `docker secret` and Kubernetes write them
    key = no_config / "openai"
    key.write_text("  sk-test \r\n")
    workers = no_config / "workers"
    workers.write_text("3")
    settings = load_settings(environ={"VIGIL_ZENDESK_TOKEN_FILE": str(secret),
                                      "VIGIL_OPENAI_API_KEY_FILE": str(key),
                                      "VIGIL_WEB_WORKERS_FILE": str(workers)})
    assert settings.zendesk_token == "s3cr3t-token"
    assert settings.openai_api_key == "sk-test"
    assert settings.web_workers == 3  # any setting, coerced like its variable


def test_the_file_wins_over_vigil_toml(no_config):
    (no_config / "vigil.toml").write_text('[vigil]\njira_token = "from-toml"\n')
    (no_config / "token").write_text("from-file")
    assert load_settings(environ={"VIGIL_JIRA_TOKEN_FILE": str(no_config / "token")}).jira_token == "from-file"


@pytest.mark.parametrize("content, error", [
    (None, "VIGIL_JIRA_TOKEN_FILE names {path}, which cannot be read (No such file or directory)"),
    ("\n", "VIGIL_JIRA_TOKEN_FILE names {path}, which is empty"),
    (b"\xff\xfe-not-text", "VIGIL_JIRA_TOKEN_FILE names {path}, which is not UTF-8 text"),
])
def test_a_file_that_cannot_give_a_value_is_a_clear_error(no_config, content, error):
    path = no_config / "token"
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif content is not None:
        path.write_text(content)
    with pytest.raises(SettingsError) as raised:
        load_settings(environ={"VIGIL_JIRA_TOKEN_FILE": str(path)})
    assert str(raised.value) == "jira_token: " + error.format(path=path)


def test_the_variable_and_its_file_together_are_refused(no_config):
    (no_config / "token").write_text("from-file")
    with pytest.raises(SettingsError, match="both VIGIL_JIRA_TOKEN and VIGIL_JIRA_TOKEN_FILE are set"):
        load_settings(environ={"VIGIL_JIRA_TOKEN": "x", "VIGIL_JIRA_TOKEN_FILE": str(no_config / "token")})



def test_the_retired_flag_window_setting_says_where_the_window_lives_now(no_config):
    (no_config / "vigil.toml").write_text("[vigil]\nflag_window_hours = 12\n")
    with pytest.raises(SettingsError, match=r"flag_window_hours is no longer a setting: .*rules/risk.yml"):
        load_settings(environ={})


def test_a_retired_setting_in_the_environment_is_refused_too(no_config):
    with pytest.raises(SettingsError, match=r"VIGIL_FLAG_WINDOW_HOURS: flag_window_hours is no longer a setting"):
        load_settings(environ={"VIGIL_FLAG_WINDOW_HOURS": "12"})


def test_a_vigil_variable_that_names_no_setting_is_named_in_a_warning(no_config, caplog):
    """A typo must not pass silently: VIGIL_SHADOW_MODE=1 would leave the plugin posting."""
    settings = load_settings(environ={"VIGIL_SHADOW_MODE": "1", "VIGIL_OPENAI_API_KEY": "sk-x"})
    assert settings.shadow is False and settings.openai_api_key == ""
    warned = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert "VIGIL_OPENAI_API_KEY names no setting and is ignored (did you mean OPENAI_API_KEY?)" in warned
    assert "VIGIL_SHADOW_MODE names no setting and is ignored (did you mean VIGIL_SHADOW?)" in warned
    caplog.clear()
    load_settings(environ={"VIGIL_SHADOW": "1", "VIGIL_CONFIG": "vigil.toml", "OPENAI_API_KEY": "sk-x",
                           "VIGIL_TEST_POSTGRES": "postgresql://127.0.0.1/test"})
    assert not [r for r in caplog.records if r.levelname == "WARNING"]  # every one of these is read
