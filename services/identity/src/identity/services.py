"""Identity's use cases as the gateway needs them: the event-sourced application plus the
adapters around it (vault, signing keys, mail folder, document store)."""

from __future__ import annotations

import hashlib
import hmac
import logging
from dataclasses import asdict
from typing import Any
from uuid import UUID

from identity import domain
from identity.application import IdentityApplication
from identity.background import provider_for
from identity.documents import Document, DocumentRejected, DocumentStore
from identity.mail import MailFolder
from identity.schemas import ApplicationIn, RegisterIn, TokenPair
from identity.settings import IdentitySettings
from identity.tokens import SigningKeyStore
from servicekit.auth import Principal
from servicekit.problems import Problem, field_error

log = logging.getLogger(__name__)


def email_lookup_key(secret: str) -> Any:
    key = hashlib.sha256(b"alphapeer-email-lookup:" + secret.encode()).digest()

    def lookup(email: str) -> str:
        return hmac.new(key, email.strip().lower().encode(), hashlib.sha256).hexdigest()

    return lookup


class Identity:
    def __init__(self, settings: IdentitySettings, app: IdentityApplication, keys: SigningKeyStore,
                 mail: MailFolder, documents: DocumentStore) -> None:
        self.settings = settings
        self.app = app
        self.keys = keys
        self.mail = mail
        self.documents = documents
        self.background = provider_for(settings.identity_background_check_provider)

    # -- accounts --------------------------------------------------------------------

    def register(self, body: RegisterIn) -> UUID:
        referral = body.referral.model_dump(mode="json") if body.referral else None
        user_id = self.app.register(
            body.email, body.password, body.display_name, referral=referral,
            time_zone=body.time_zone, languages=body.languages,
        )
        self.send_verification(user_id)
        return user_id

    def send_verification(self, user_id: UUID) -> None:
        user = self.app.get_user(user_id)
        if user.email_verified:
            raise Problem(409, "Conflict", "the email address is already verified")
        token = self.app.issue_email_verification(user_id)
        link = f"{self.settings.identity_public_url}/v1/auth/verify-email?token={token}"
        self.mail.send(
            user.email or "",
            "Confirm your Alpha Peer email",
            f"Hello {user.display_name},\n\nConfirm your address with this token:\n\ntoken={token}\n\n"
            f"(POST it to {link.split('?')[0]}). It expires in 48 hours.\n",
        )

    def _tokens(self, user_id: UUID, session: tuple[Any, str]) -> TokenPair:
        session_id, refresh_token = session
        user = self.app.get_user(user_id)
        access, ttl = self.keys.issue_access_token(user_id, list(user.roles), str(session_id),
                                                   self.settings.jwt_issuer, self.settings.jwt_audience)
        return TokenPair(access_token=access, expires_in=ttl, refresh_token=refresh_token, user_id=user_id)

    def login(self, email: str, password: str) -> TokenPair:
        user_id = self.app.authenticate(email, password)
        return self._tokens(user_id, self.app.start_session(user_id))

    def refresh(self, refresh_token: str) -> TokenPair:
        # The domain refuses (and revokes) a suspended or erased account's session itself.
        user_id, new_token = self.app.refresh(refresh_token)
        session_id = self.app.session_id_for(new_token)
        return self._tokens(user_id, (session_id, new_token))

    def check_principal(self, principal: Principal) -> None:
        """Identity's own routes refuse a suspended or erased account at once, even while
        its access token has not expired yet."""
        try:
            user = self.app.get_user(principal.user_id)
        except domain.NotFound as exc:
            raise Problem(401, "Invalid token", "no such user") from exc
        if user.erased:
            raise Problem(401, "Invalid token", "this account was erased")
        if user.suspended:
            raise Problem(403, "Account suspended", "this account is suspended")

    def user_document(self, user_id: UUID) -> dict[str, Any]:
        doc = asdict(self.app.get_user(user_id))
        doc["user_id"] = doc.pop("id")
        doc["roles"] = sorted(doc.get("roles", []))
        return doc

    def public_profile(self, user_id: UUID) -> dict[str, Any]:
        return dict(self.app.get_public_profile(user_id))

    def erase(self, user_id: UUID, by: UUID) -> None:
        self.documents.erase_owner(user_id)
        self.app.erase(user_id, by=by)

    # -- vetting ---------------------------------------------------------------------

    def store_document(self, owner: UUID, filename: str, content_type: str | None, data: bytes) -> Document:
        try:
            return self.documents.put(owner, filename, content_type, data)
        except DocumentRejected as exc:
            raise field_error(exc.field, exc.reason, status=exc.status,
                              title="Upload rejected") from exc

    def submit_application(self, user_id: UUID, body: ApplicationIn) -> UUID:
        docs = []
        for i, doc_id in enumerate(body.document_ids):
            doc = self.documents.get(doc_id)
            if doc is None or doc.owner_id != user_id:
                raise field_error(f"document_ids.{i}", "is not a document you uploaded")
            docs.append({"document_id": str(doc.document_id), "filename": doc.filename or "",
                         "content_type": doc.content_type, "size": doc.size, "sha256": doc.sha256})
        return self.app.submit_tutor_application(user_id, body.subjects, body.levels, body.qualifications,
                                                 body.statement, docs)

    def application_document(self, application_id: UUID) -> dict[str, Any]:
        doc = asdict(self.app.get_tutor_application(application_id))
        doc["application_id"] = doc.pop("id")
        return doc
