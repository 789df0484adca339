"""Talk to the Zendesk API with zenpy: post internal notes, and translate failures into DeliveryError."""

from __future__ import annotations

import logging
import time
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from typing import Any, Callable, Iterator
from urllib.parse import urlsplit

import requests
from requests.auth import AuthBase
from zenpy import Zenpy
from zenpy.lib.api_objects import Comment, Ticket
from zenpy.lib.exception import APIException, RatelimitBudgetExceeded, ZenpyException

from connectors.base import ConfigurationError, DeliveryError
from connectors.events import NOTE_MARKER
from connectors.plumbing import http_failure, network_failure, retry_after
from connectors.zendesk.auth import TOKEN_PATH, api_token_warning, credentials
from connectors.zendesk.render import to_html
from connectors.zendesk.settings import ZendeskSettings

log = logging.getLogger(__name__)

TIMEOUT = (5.0, 20.0)  # seconds to connect, to read; zenpy's own default is 60 s


@dataclass(frozen=True)
class ApiBase:
    """Where the Zendesk API lives, in the terms zenpy takes: it builds subdomain.domain."""

    scheme: str
    subdomain: str
    domain: str  # may end with ":port"

    def url(self, path: str) -> str:
        return f"{self.scheme}://{self.subdomain}.{self.domain}{path}"


def api_base(url: str) -> ApiBase:
    """Split `zendesk_url` into zenpy's subdomain and domain; refuse URLs it cannot serve."""
    parts = urlsplit(url.strip())
    host = parts.hostname or ""
    usage = "zendesk_url must be the account URL, e.g. https://acme.zendesk.com"
    if parts.scheme not in ("https", "http") or "." not in host or parts.username \
            or parts.password or parts.path not in ("", "/") or parts.query or parts.fragment:
        raise ConfigurationError(usage)  # never echo the URL: it could hold credentials
    if parts.scheme == "http" and not host.startswith("127."):
        raise ConfigurationError(f"{usage}; plain http is only allowed to 127.x.x.x (tests): "
                                 "credentials must not cross a network in clear")
    try:
        port = parts.port
    except ValueError:
        raise ConfigurationError(f"{usage}; the port is not a number") from None
    # zenpy joins f"{subdomain}.{domain}" (zenpy/lib/api.py BaseApi.base_url), so any host
    # and port can be expressed by splitting at the first dot.
    subdomain, domain = host.split(".", 1)
    return ApiBase(parts.scheme, subdomain, f"{domain}:{port}" if port else domain)


class _RateLimited(Exception):
    def __init__(self, retry_after: float | None) -> None:
        super().__init__(retry_after)
        self.retry_after = retry_after


def _stop_on_429(response: requests.Response, *args: Any, **kwargs: Any) -> requests.Response:
    """Raise before zenpy sees a 429: zenpy 2.0.57 would sleep Retry-After seconds and retry."""
    if response.status_code == 429:
        _ = response.content  # read the short body, so the connection is closed cleanly
        raise _RateLimited(retry_after(response.headers.get("Retry-After")))
    return response


class ZendeskClient:
    """Talks to Zendesk as the bot user: one zenpy client per call, one set of credentials
    (and one OAuth token cache) shared by every call and worker thread."""

    def __init__(self, settings: ZendeskSettings, *, timeout: Any = TIMEOUT,
                 today: date | None = None, clock: Callable[[], float] = time.monotonic) -> None:
        self.settings = settings
        self._timeout = timeout
        # Refuse a malformed URL at startup, not at the first note.
        token_url = api_base(settings.url).url(TOKEN_PATH) if settings.url else ""
        self.auth: AuthBase | None = None
        self.problem: DeliveryError | None = None
        try:
            self.auth = credentials(settings, token_url, timeout=timeout, today=today, clock=clock)
        except DeliveryError as exc:  # shadow mode runs without them; each call will say why
            self.problem = exc
        warning = api_token_warning(settings, today)
        if warning:
            log.warning(warning)

    def post_internal_note(self, ticket_id: str, body: str) -> str:
        """Post `body` as a private comment on the ticket; return the new comment's id."""
        number = _ticket_number(ticket_id)
        # public=False on the Comment itself: is_public on the ticket does not make a comment
        # private (HELPDESK_FACTS "zenpy pitfalls", facetoe/zenpy#232). Nothing here can
        # change it: there is no parameter for it.
        # html_body, because a plain body shows the note's Markdown as typed.
        update = Ticket(id=number, comment=Comment(html_body=to_html(_marked(body)), public=False))
        with requests.Session() as session, zendesk_errors(f"the note on ticket {number}", NOTE_HINTS):
            result = self.zenpy(session).tickets.update(update)
        return _comment_id(result, number)

    def find_note(self, ticket_id: str, ref: str) -> str | None:
        """The id of the ticket's comment containing `ref`, reading its comments (100 a page)."""
        number = _ticket_number(ticket_id)
        with requests.Session() as session, zendesk_errors(f"the comments of ticket {number}", NOTE_HINTS):
            for comment in self.zenpy(session).tickets.comments(ticket=number):
                if any(isinstance(text, str) and ref in text for text in (comment.body, comment.html_body)):
                    return str(comment.id)
        return None

    def zenpy(self, session: requests.Session, action: str = "post to") -> Zenpy:
        """The zenpy client every Zendesk call uses (notes, history, doctor), on `session`.

        Raise DeliveryError(retryable=False) naming the settings that are missing; `action`
        says what could not be done ("post to", "read from").
        """
        if self.auth is None:
            raise DeliveryError(f"cannot {action} Zendesk: {self.problem}", retryable=False)
        base = api_base(self.settings.url)
        # The session we pass has no retrying adapter: a PUT that adds a comment is not
        # idempotent, so the worker decides about retries (a reader backs off on its own).
        # ratelimit_budget=0 makes zenpy raise instead of sleeping should a 429 reach it;
        # raise_on_ratelimit (HELPDESK_FACTS) is not in zenpy 2.0.57, hence the response hook.
        session.hooks["response"].append(_stop_on_429)
        # Our credentials on the session; `authorized` tells zenpy to leave them alone
        # (zenpy 2.0.57 Zenpy._init_session skips an authorized session, as it does for an
        # OAuth2Session), so it needs no email or token of its own.
        session.auth = self.auth
        session.authorized = True  # type: ignore[attr-defined]
        client = Zenpy(subdomain=base.subdomain, domain=base.domain, session=session,
                       timeout=self._timeout, ratelimit_budget=0,
                       # zenpy's cache is not thread-safe (facetoe/zenpy#610); we also build
                       # one client per call, so nothing is shared between worker threads.
                       disable_cache=True)
        if base.scheme == "http":
            _use_plain_http(client)
        return client


def _use_plain_http(client: Zenpy) -> None:
    """Make the zenpy APIs we use speak http (loopback only, see api_base)."""
    # zenpy hard-codes `protocol = 'https'` on every Api object (zenpy/lib/api.py BaseApi)
    # and offers no argument for it, only the process-wide ZENPY_FORCE_SCHEME variable, which
    # would redirect every Zenpy client in the process. Only these APIs are used here.
    client.tickets.protocol = "http"
    client.search_export.protocol = "http"
    client.users.protocol = "http"


def _ticket_number(ticket_id: str) -> int:
    text = str(ticket_id).strip()
    if not (text.isascii() and text.isdigit()):
        raise DeliveryError(f"Zendesk ticket ids are numbers, got {text[:20]!r}", retryable=False)
    return int(text)


def _marked(body: str) -> str:
    """Return the note with NOTE_MARKER, so the webhook never reads it back as a question."""
    if not isinstance(body, str) or not body.strip():
        raise DeliveryError("refusing to post an empty note", retryable=False)
    return body if NOTE_MARKER in body else f"{body.rstrip()}\n\n{NOTE_MARKER}"


NOTE_HINTS = {401: " (check the OAuth client, or VIGIL_ZENDESK_EMAIL and VIGIL_ZENDESK_TOKEN)",
              403: " (the bot user must be an agent allowed to comment on this ticket)",
              404: " (no such ticket, or the bot cannot see it)",
              422: " (Zendesk rejected the update, e.g. a closed ticket or 5,000 comments)"}


@contextmanager
def zendesk_errors(what: str, hints: dict[int, str]) -> Iterator[None]:
    """Turn whatever zenpy or requests raise about `what` into the DeliveryError callers understand."""
    try:
        yield
    except DeliveryError:
        raise
    except _RateLimited as exc:
        raise DeliveryError(f"Zendesk rate limit (429) on {what}", retryable=True,
                            retry_after=exc.retry_after) from None
    except RatelimitBudgetExceeded as exc:  # only if a 429 ever got past the hook
        raise DeliveryError(f"Zendesk rate limit on {what}", retryable=True) from exc
    except (APIException, requests.HTTPError) as exc:
        raise status_error(exc.response, what, hints) from exc
    except (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError) as exc:
        # The request may have reached Zendesk before the connection failed.
        raise network_failure("Zendesk", what, exc) from exc
    except (requests.RequestException, ZenpyException) as exc:
        raise DeliveryError(f"Zendesk: {what} failed: {type(exc).__name__}", retryable=False) from exc


def status_error(response: requests.Response | None, what: str, hints: dict[int, str]) -> DeliveryError:
    """A DeliveryError for Zendesk's HTTP answer to `what`, retryable when waiting can help."""
    if response is None:
        return DeliveryError(f"Zendesk: {what} failed", retryable=False)
    status = response.status_code
    return http_failure("Zendesk", status, what, _error_text(response), response.headers,
                        hints.get(status, ""))


def _error_text(response: requests.Response) -> str:
    try:
        data = response.json()
    except ValueError:
        return response.text[:200]
    if isinstance(data, dict) and ("error" in data or "description" in data):
        return f"{data.get('error', '')} {data.get('description', '')}".strip()[:200]
    return str(data)[:200]


def _comment_id(result: Any, number: int) -> str:
    """Return the new comment's id from the update's audit, else the ticket id."""
    events = getattr(getattr(result, "audit", None), "events", None) or []
    for event in events:
        if isinstance(event, dict) and event.get("type") == "Comment":
            if event.get("public") is True:  # cannot happen by construction; shout if it does
                log.error("Zendesk recorded note %s on ticket %s as PUBLIC", event.get("id"),
                          number)
                raise DeliveryError(f"Zendesk recorded the note on ticket {number} as PUBLIC "
                                    f"(comment {event.get('id')}): check the bot user's role",
                                    retryable=False)
            if event.get("id") is not None:
                return str(event["id"])
    return str(number)
