"""Background-check providers (``ports.BackgroundCheckProvider``), chosen by
``ALPHAPEER_IDENTITY_BACKGROUND_CHECK_PROVIDER``. The platform records a status per user; a
provider starts a check and later reports its outcome.

- ``manual`` (the default): starting a check marks it pending; staff record the outcome.
- ``checkr``: Checkr's hosted flow. Starting a check creates a Checkr *candidate* (the
  user's email; the user id as ``custom_id``) and an *invitation* to the configured package;
  Checkr mails the person, collects what it needs, runs the report, and posts *webhooks*
  (``{"id", "object": "event", "type": "report.completed", "created_at", "data": {"object":
  <report>}}``) signed with ``X-Checkr-Signature``: the HMAC-SHA256 hex digest of the raw
  body under the API key. The API takes the key as the HTTP basic-auth user name."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from collections.abc import Mapping
from datetime import datetime
from typing import Any
from uuid import UUID

import httpx

from identity.domain.errors import Invalid, InvalidSignature, NotFound, ProviderRefused, ProviderUnavailable
from identity.domain.ports import BackgroundCheckProvider, CheckStarted, ProviderReport
from identity.settings import IdentitySettings

log = logging.getLogger(__name__)


class ManualProvider:
    name = "manual"

    def start(self, user_id: UUID, email: str, display_name: str) -> CheckStarted:
        return CheckStarted("pending")

    def read_webhook(self, body: bytes, headers: Mapping[str, str]) -> ProviderReport | None:
        raise NotFound("the manual provider sends no webhooks")


#: Checkr's event types → the status recorded. A report's final result decides
#: ``report.completed``; events not listed (candidate.*, ...) report no status.
CHECKR_PENDING = {"invitation.created", "invitation.completed", "report.created", "report.updated",
                  "report.resumed", "report.suspended", "report.disputed"}
CHECKR_ENDED = {"invitation.expired", "invitation.deleted", "report.canceled"}
CHECKR_DECIDED = {"report.engaged": "clear", "report.pre_adverse_action": "consider",
                  "report.post_adverse_action": "failed"}


class CheckrProvider:
    """Checkr's API at ``api_url`` (its own, or its staging one, or a test double)."""

    name = "checkr"

    def __init__(self, api_key: str, package: str, api_url: str = "https://api.checkr.com", *,
                 work_location: Mapping[str, str] | None = None, timeout: float = 10.0,
                 transport: httpx.BaseTransport | None = None) -> None:
        if not api_key or not package:
            raise ValueError("the checkr provider needs ALPHAPEER_IDENTITY_CHECKR_API_KEY and "
                             "ALPHAPEER_IDENTITY_CHECKR_PACKAGE")
        self.api_key = api_key
        self.package = package
        self.api_url = api_url.rstrip("/")
        self.timeout = timeout
        self.transport = transport
        self.work_location = {k: v for k, v in (work_location or {}).items() if v}

    # -- starting a check (rare: a client per check, nothing held open) ----------------------

    def _client(self) -> httpx.Client:
        return httpx.Client(base_url=self.api_url, auth=(self.api_key, ""), timeout=self.timeout,
                            transport=self.transport, headers={"Accept": "application/json"})

    def _post(self, http: httpx.Client, path: str, body: dict[str, Any]) -> dict[str, Any]:
        try:
            response = http.post(path, json=body)
        except httpx.HTTPError as exc:
            log.warning("checkr %s failed: %s: %s", path, type(exc).__name__, exc)
            raise ProviderUnavailable("the background-check provider cannot be reached now; try again later",
                                      retry_after=30) from exc
        if response.status_code == 429 or response.status_code >= 500:
            log.warning("checkr %s answered HTTP %s", path, response.status_code)
            wait = response.headers.get("retry-after", "")
            raise ProviderUnavailable(f"the background-check provider answered HTTP {response.status_code}; "
                                      "try again later", retry_after=int(wait) if wait.isdigit() else 30)
        if response.status_code >= 400:
            try:
                error = response.json().get("error")
            except (ValueError, AttributeError):
                error = None
            log.warning("checkr %s refused: HTTP %s %s", path, response.status_code, error)
            raise ProviderRefused(f"the background-check provider refused the check (HTTP {response.status_code}"
                                  f"{': ' + str(error) if error else ''})")
        try:
            answer = response.json()
        except ValueError:
            answer = None
        if not isinstance(answer, dict) or not isinstance(answer.get("id"), str):
            raise ProviderUnavailable("the background-check provider gave an answer without an id", retry_after=30)
        return answer

    def start(self, user_id: UUID, email: str, display_name: str) -> CheckStarted:
        # Only what the hosted flow needs: Checkr asks the person for the rest themself.
        with self._client() as http:
            candidate = self._post(http, "/v1/candidates", {"email": email, "custom_id": str(user_id)})
            invitation: dict[str, Any] = {"candidate_id": candidate["id"], "package": self.package}
            if self.work_location:
                invitation["work_locations"] = [dict(self.work_location)]
            sent = self._post(http, "/v1/invitations", invitation)
        return CheckStarted("pending", reference=candidate["id"],
                            details={"invitation_id": sent["id"], "invitation_url": sent.get("invitation_url")})

    # -- webhooks --------------------------------------------------------------------

    def signature(self, body: bytes) -> str:
        return hmac.new(self.api_key.encode(), body, hashlib.sha256).hexdigest()

    def read_webhook(self, body: bytes, headers: Mapping[str, str]) -> ProviderReport | None:
        given = {k.lower(): v for k, v in headers.items()}.get("x-checkr-signature", "").strip().lower()
        if not given or not hmac.compare_digest(given.encode(), self.signature(body).encode()):
            raise InvalidSignature("the X-Checkr-Signature header does not sign this body")
        try:
            event = json.loads(body)
        except ValueError:
            raise Invalid("body", "is not JSON") from None
        if not isinstance(event, dict):
            raise Invalid("body", "is not a Checkr event")
        event_id, kind, created = event.get("id"), event.get("type"), event.get("created_at")
        if not isinstance(event_id, str) or not event_id or len(event_id) > 200:
            raise Invalid("id", "is not a Checkr event id")
        if not isinstance(kind, str):
            raise Invalid("type", "is not a Checkr event type")
        data = event.get("data")
        obj = data.get("object") if isinstance(data, dict) else None
        if not isinstance(obj, dict):
            raise Invalid("data.object", "is missing")
        status = self._status(kind, obj)
        if status is None:
            return None
        candidate = obj.get("candidate_id")
        if not isinstance(candidate, str) or not candidate:
            raise Invalid("data.object.candidate_id", "is missing")
        try:
            reported_at = datetime.fromisoformat(str(created))
        except ValueError:
            raise Invalid("created_at", "is not an ISO 8601 time") from None
        if reported_at.tzinfo is None:
            raise Invalid("created_at", "has no time zone")
        return ProviderReport(event_id=event_id, reference=candidate, status=status, reported_at=reported_at,
                              kind=kind)

    @staticmethod
    def _status(kind: str, obj: Mapping[str, Any]) -> str | None:
        if kind == "report.completed":
            # Today's reports: status "complete" and a result; older ones: the status is the result.
            result = obj.get("result") or obj.get("status")
            return result if result in ("clear", "consider") else "consider"
        if kind in CHECKR_DECIDED:
            return CHECKR_DECIDED[kind]
        if kind in CHECKR_PENDING:
            return "pending"
        if kind in CHECKR_ENDED:
            return "not_started"
        return None


def provider_for(s: IdentitySettings) -> BackgroundCheckProvider:
    name = s.identity_background_check_provider
    if name == "manual":
        return ManualProvider()
    if name == "checkr":
        return CheckrProvider(s.identity_checkr_api_key, s.identity_checkr_package, s.identity_checkr_api_url,
                              work_location={"country": s.identity_checkr_work_country,
                                             "state": s.identity_checkr_work_state,
                                             "city": s.identity_checkr_work_city},
                              timeout=s.identity_checkr_timeout)
    raise ValueError(f"background-check provider {name!r} is not available; use 'manual' or 'checkr'")
