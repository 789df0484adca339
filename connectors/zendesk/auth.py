"""How the Zendesk client proves who it is: OAuth access tokens, or the retiring API token.

OAuth (the way from now on): a confidential OAuth client (Admin Center > Apps and
integrations > APIs > OAuth clients) exchanges its identifier and secret for an access token
with the client-credentials grant, `POST /oauth/tokens` with a JSON body
`{"grant_type": "client_credentials", "client_id", "client_secret", "scope"}`
(developer.zendesk.com/api-reference/ticketing/oauth/grant_type_tokens/; the migration guide
developer.zendesk.com/documentation/api-basics/authentication/api-tokens-to-oauth/). Tokens
expire (`expires_in` seconds) and may come with a refresh token; a refresh returns a new pair
and invalidates the old one. We renew a minute before expiry, and once more on a 401 (revoked
early, or a clock that disagrees), re-sending the refused request with the new token.

API token: `{email}/token:{token}` Basic auth. Zendesk deactivates every API token on
2027-04-30 (developer.zendesk.com/documentation/api-basics/authentication/oauth-migration/),
so it is accepted until then with a warning at start, and refused after.
"""

from __future__ import annotations

import logging
import threading
import time
from datetime import date, datetime, timezone
from typing import Any, Callable

import requests
from requests.auth import AuthBase, HTTPBasicAuth

from connectors.base import DeliveryError
from connectors.zendesk.settings import ZendeskSettings

log = logging.getLogger(__name__)

API_TOKEN_RETIREMENT = date(2027, 4, 30)
RENEW_BEFORE = 60.0  # seconds before expiry a token is renewed; at most a tenth of its life
TOKEN_PATH = "/oauth/tokens"


def credentials(settings: ZendeskSettings, token_url: str, *, timeout: Any,
                today: date | None = None, clock: Callable[[], float] = time.monotonic) -> AuthBase:
    """The requests auth every Zendesk call carries: OAuth when a client is configured, else
    the API token. DeliveryError(retryable=False) names what is missing or retired."""
    api_token = not (settings.oauth_client_id or settings.oauth_client_secret) and bool(
        settings.email or settings.token)
    if not api_token:  # OAuth: what a new installation sets up (and names when missing)
        _require(settings, "url", "oauth_client_id", "oauth_client_secret")
        return BearerAuth(OAuthTokens(token_url, settings.oauth_client_id,
                                      settings.oauth_client_secret, settings.oauth_scopes,
                                      timeout=timeout, clock=clock))
    _require(settings, "url", "email", "token")
    if (today or datetime.now(timezone.utc).date()) >= API_TOKEN_RETIREMENT:
        raise DeliveryError(f"Zendesk retired API tokens on {API_TOKEN_RETIREMENT}: set "
                            "VIGIL_ZENDESK_OAUTH_CLIENT_ID and VIGIL_ZENDESK_OAUTH_CLIENT_SECRET "
                            "(connectors/zendesk/SETUP.md)", retryable=False)
    return HTTPBasicAuth(f"{settings.email}/token", settings.token)


def _require(settings: ZendeskSettings, *names: str) -> None:
    missing = [f"zendesk_{name} (VIGIL_ZENDESK_{name.upper()})" for name in names
               if not getattr(settings, name)]
    if missing:  # shadow mode runs without them; talking to Zendesk cannot
        raise DeliveryError(f"{', '.join(missing)} not set", retryable=False)


def api_token_warning(settings: ZendeskSettings, today: date | None = None) -> str | None:
    """What to tell the admin at start when the retiring API token is the credential in use."""
    if settings.oauth_client_id or settings.oauth_client_secret or not settings.token:
        return None
    today = today or datetime.now(timezone.utc).date()
    days = (API_TOKEN_RETIREMENT - today).days
    when = (f"stopped working on {API_TOKEN_RETIREMENT}" if days <= 0 else
            f"stop working on {API_TOKEN_RETIREMENT}, in {days} days (one unused for 30 days "
            "is deactivated sooner)")
    return (f"Zendesk API tokens {when}: create an OAuth client and set "
            "VIGIL_ZENDESK_OAUTH_CLIENT_ID and VIGIL_ZENDESK_OAUTH_CLIENT_SECRET "
            "(connectors/zendesk/SETUP.md)")


class OAuthTokens:
    """Access tokens for one OAuth client, shared by every call (thread-safe), renewed in time."""

    def __init__(self, token_url: str, client_id: str, client_secret: str, scope: str, *,
                 timeout: Any, clock: Callable[[], float] = time.monotonic) -> None:
        self._url, self._id, self._secret, self._scope = token_url, client_id, client_secret, scope
        self._timeout, self._clock = timeout, clock
        self._lock = threading.Lock()
        self._access: str | None = None
        self._refresh: str | None = None
        self._renew_at = 0.0
        self.granted_scope = ""  # what Zendesk granted, from its last answer (for vigil doctor)

    def current(self) -> str:
        """A valid access token: the cached one, or a new one when it is about to expire."""
        with self._lock:
            if self._access is None or self._clock() >= self._renew_at:
                self._renew()
            assert self._access is not None
            return self._access

    def refused(self, token: str) -> str:
        """Zendesk answered 401 to `token`: return a renewed token (once per refused token)."""
        with self._lock:
            if self._access == token:  # another thread may have renewed it already
                self._renew()
            assert self._access is not None
            return self._access

    def _renew(self) -> None:
        answer = None
        if self._refresh:
            answer = self._ask({"grant_type": "refresh_token", "refresh_token": self._refresh},
                               may_fail=True)
        if answer is None:  # no refresh token, or Zendesk no longer takes it
            answer = self._ask({"grant_type": "client_credentials", "scope": self._scope})
        assert answer is not None  # only a refresh may fail softly
        token = answer.get("access_token")
        if not isinstance(token, str) or not token:
            raise DeliveryError("Zendesk's OAuth answer has no access_token", retryable=True)
        self._access = token
        refresh = answer.get("refresh_token")
        self._refresh = refresh if isinstance(refresh, str) and refresh else None
        lifetime = answer.get("expires_in")
        if isinstance(lifetime, (int, float)) and not isinstance(lifetime, bool) and lifetime > 0:
            self._renew_at = self._clock() + lifetime - min(RENEW_BEFORE, lifetime / 10)
        else:  # no expiry given: keep it until Zendesk refuses it
            self._renew_at = float("inf")
        self.granted_scope = str(answer.get("scope") or self._scope)
        log.info("Zendesk OAuth access token renewed (scope %s)", self.granted_scope)

    def _ask(self, grant: dict[str, str], may_fail: bool = False) -> dict[str, Any] | None:
        body = {**grant, "client_id": self._id, "client_secret": self._secret}
        try:
            response = requests.post(self._url, json=body, timeout=self._timeout,
                                     headers={"Accept": "application/json"})
        except requests.RequestException as exc:
            raise DeliveryError(f"Zendesk OAuth token request failed: {type(exc).__name__}",
                                retryable=True) from None
        if response.status_code in (400, 401, 403) and may_fail:
            log.info("Zendesk refused the refresh token (%s); asking anew", response.status_code)
            return None
        if response.status_code != 200:
            retryable = response.status_code >= 500 or response.status_code == 429
            raise DeliveryError(
                f"Zendesk answered {response.status_code} to the OAuth token request "
                f"({grant['grant_type']}): {_error(response)} (check VIGIL_ZENDESK_OAUTH_CLIENT_ID, "
                "VIGIL_ZENDESK_OAUTH_CLIENT_SECRET and that the client is confidential)",
                retryable=retryable)
        try:
            answer = response.json()
        except ValueError:
            answer = None
        if not isinstance(answer, dict):
            raise DeliveryError("Zendesk's OAuth answer is not a JSON object", retryable=True)
        return answer


def _error(response: requests.Response) -> str:
    try:
        data = response.json()
    except ValueError:
        return response.text[:200]
    if isinstance(data, dict):
        return str(data.get("error_description") or data.get("error") or data)[:200]
    return str(data)[:200]


class BearerAuth(AuthBase):
    """requests auth: the current OAuth token on every request, and one retry after a 401."""

    def __init__(self, tokens: OAuthTokens) -> None:
        self.tokens = tokens

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers["Authorization"] = f"Bearer {self.tokens.current()}"
        request.register_hook("response", self._retry_on_401)
        return request

    def _retry_on_401(self, response: requests.Response, **kwargs: Any) -> requests.Response:
        if response.status_code != 401:
            return response
        sent = response.request.headers.get("Authorization", "").removeprefix("Bearer ")
        fresh = self.tokens.refused(sent)
        _ = response.content  # drain it, so the connection can be reused
        response.close()
        again = response.request.copy()
        again.headers["Authorization"] = f"Bearer {fresh}"
        # The refused request did nothing (401), so sending it again cannot double a note.
        again.hooks = {"response": [h for h in again.hooks.get("response", [])
                                    if h != self._retry_on_401]}
        retried = response.connection.send(again, **kwargs)
        retried.history.append(response)
        retried.request = again
        return requests.hooks.dispatch_hook("response", again.hooks, retried, **kwargs)
