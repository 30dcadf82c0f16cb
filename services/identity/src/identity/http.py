"""Identity's HTTP gateway: each route checks who may call it, parses its body into a
command value, calls the application and shapes the answer. Private data is the owner's
and staff's only. Handlers are plain ``def`` so FastAPI runs the synchronous event store in
its thread pool; refusals are the domain's, answered by the kit's gateway. Routes that hash a
password wait for admission on the event loop first (``_admitted``: a bounded number run at
once, the rest get 503 past their deadline); sign-in is ``async`` so that an attempt past the
attempt limits is turned away before it queues; the provider webhook reads its raw body."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Annotated, Any, Literal
from urllib.parse import quote

from fastapi import APIRouter, BackgroundTasks, Depends, File, Form, Path, Query, Request, Response, UploadFile, status
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool

from alphapeer_contracts.vocabulary import STAFF_ROLES, Role
from identity.adapters import passwords
from identity.adapters.review_queue import ReviewQueue
from identity.adapters.signing_keys import SigningKeyStore
from identity.application import ApplicationView, IdentityApplication, TokenPair, UserView
from identity.domain.commands import PrivateProfileChange, PublicProfileChange, Registration, TutorApplicationForm
from identity.schemas import (
    JWKS,
    AccessLogCheck,
    ApplicationIn,
    ApplicationOut,
    BackgroundCheckIn,
    BackgroundCheckOut,
    BackgroundCheckStartedOut,
    DocumentAccessOut,
    DocumentAccessPage,
    DocumentOut,
    EmailVerifiedOut,
    ErasedOut,
    KeyRotated,
    LoginIn,
    PasswordIn,
    PasswordResetConfirmIn,
    PasswordResetIn,
    PasswordResetRequested,
    PrivateProfileIn,
    PublicProfileIn,
    PublicProfileOut,
    RefreshIn,
    Registered,
    RegisterIn,
    ReinstatedOut,
    RejectIn,
    ReviewIn,
    ReviewQueuePage,
    RoleIn,
    RolesOut,
    SuspendedOut,
    SuspendIn,
    TokenIn,
    UserOut,
    VerificationSent,
    WebhookReceived,
)
from identity.schemas import TokenPair as TokenPairOut
from identity.settings import IdentitySettings
from servicekit.auth import Principal, current_principal, require_roles, require_self_or_roles
from servicekit.bodies import Uuid
from servicekit.errors import Forbidden
from servicekit.gateway import provided
from servicekit.uploads import capped_body

log = logging.getLogger(__name__)

Staff = Annotated[Principal, Depends(require_roles(*STAFF_ROLES))]
Admin = Annotated[Principal, Depends(require_roles("admin"))]
AnyUser = Annotated[Principal, Depends(current_principal)]


App = Annotated[IdentityApplication, Depends(provided("identity"))]
Keys = Annotated[SigningKeyStore, Depends(provided("keys"))]
Queue = Annotated[ReviewQueue, Depends(provided("queue"))]
Settings = Annotated[IdentitySettings, Depends(provided("settings"))]


@asynccontextmanager
async def _admitted(request: Request) -> AsyncIterator[None]:
    """Around the synchronous part of a request that will hash a password: it waits for
    admission here, on the event loop, rather than in a worker thread (see
    adapters.passwords); 503 with Retry-After past its deadline."""
    hasher = getattr(request.app.state.identity, "hasher", None)
    if isinstance(hasher, passwords.BoundedHasher):
        async with hasher.admission():
            yield
    else:
        yield


async def _hashing(request: Request) -> AsyncIterator[None]:
    # As a request that will hash arrives: its deadline counts from here.
    passwords.mark_arrival()
    async with _admitted(request):
        yield


#: On every route that hashes a password.
HASHES = [Depends(_hashing)]


def client_address(request: Request, settings: IdentitySettings) -> str:
    """The caller's address for attempt limits: the connection's peer, or, behind
    ``identity_trusted_proxy_hops`` proxies that append to X-Forwarded-For, the address the
    outermost trusted proxy saw (entries a client wrote itself are further left, ignored)."""
    peer = request.client.host if request.client else ""
    hops = settings.identity_trusted_proxy_hops
    if hops <= 0:
        return peer
    forwarded = [a.strip() for h in request.headers.getlist("x-forwarded-for") for a in h.split(",") if a.strip()]
    chain = [*forwarded, peer]
    return chain[-(hops + 1)] if len(chain) > hops else chain[0]


async def _client(request: Request, settings: Settings) -> str:
    return client_address(request, settings)


Client = Annotated[str, Depends(_client)]

#: What the routes below may answer besides success (the kit documents problem+json for each).
ANSWERS: dict[int, str] = {
    401: "Not signed in, or the token or credentials are not valid",
    403: "Not allowed for the caller (role, owner, or account suspended)",
    404: "No such thing (or not visible to the caller)",
    409: "Conflicts with the current state",
    413: "The body is too large",
    422: "The request is invalid: `errors` names each field and the reason",
    429: "Too many attempts: wait `Retry-After` seconds",
    503: "Too busy (password hashing slots, the database, the mail server or a provider): retry after "
         "`Retry-After` seconds",
}


def answers(*statuses: int) -> dict[int | str, dict[str, Any]]:
    return {code: {"description": ANSWERS[code]} for code in statuses}


#: Path parameters: ids in their hyphenated form (``format: uuid``), as this API writes them.
UserId = Annotated[Uuid, Path()]
ApplicationId = Annotated[Uuid, Path()]
DocumentId = Annotated[Uuid, Path()]


auth = APIRouter(prefix="/v1/auth", tags=["auth"])
users = APIRouter(prefix="/v1/users", tags=["users"])
tutoring = APIRouter(prefix="/v1/tutor-applications", tags=["tutor vetting"])
admin = APIRouter(prefix="/v1/admin", tags=["admin"])
wellknown = APIRouter(tags=["keys"])
checks = APIRouter(prefix="/v1/background-checks", tags=["tutor vetting"])


# -- answers ------------------------------------------------------------------------

def user_document(view: UserView) -> dict[str, Any]:
    doc = asdict(view)
    doc["user_id"] = doc.pop("id")
    return doc


def application_document(view: ApplicationView) -> dict[str, Any]:
    doc = asdict(view)
    doc["application_id"] = doc.pop("id")
    return doc


def token_pair(pair: TokenPair) -> TokenPairOut:
    return TokenPairOut(**asdict(pair))


# -- auth ---------------------------------------------------------------------------

@auth.post("/register", status_code=status.HTTP_201_CREATED, response_model=Registered,
           summary="Register with email and password (public)", responses=answers(409, 422, 503),
           description="409 naming `email` when the address has an account. Besides the schema: "
                       "`referral.referrer_user_id`, when given, must be a registered user (422 naming it).")
async def register(body: RegisterIn, app: App, request: Request, response: Response) -> Registered:
    passwords.mark_arrival()
    registration = Registration(
        email=body.email, password=body.password, display_name=body.display_name, time_zone=str(body.time_zone),
        languages=body.languages, referral=body.referral.model_dump(mode="json") if body.referral else None,
    )
    async with _admitted(request):  # the hashing part only: mailing holds no admission
        user_id = await run_in_threadpool(app.create_account, registration)
    mailed = await run_in_threadpool(app.mail_verification, user_id)
    response.headers["Location"] = f"/v1/users/{user_id}"
    return Registered(user_id=user_id, email_verification="sent" if mailed else "not_sent")


@auth.post("/verify-email", response_model=EmailVerifiedOut,
           summary="Confirm an email address with the mailed token (public)", responses=answers(409, 422),
           description="Besides the schema: `token` must be a verification token this API mailed, less than "
                       "48 hours ago (422 naming `token`); 409 when it was used already.")
def verify_email(body: TokenIn, app: App) -> EmailVerifiedOut:
    return EmailVerifiedOut(user_id=app.verify_email(body.token))


@auth.post("/resend-verification", status_code=status.HTTP_202_ACCEPTED, response_model=VerificationSent,
           summary="Mail a new verification token; a few a window (the signed-in user)",
           responses=answers(401, 403, 409, 429, 503))
def resend_verification(principal: AnyUser, app: App) -> VerificationSent:
    app.resend_verification(principal.user_id)
    return VerificationSent()


@auth.post("/login", response_model=TokenPairOut, summary="Exchange email and password for tokens (public)",
           responses=answers(401, 403, 422, 429, 503))
async def login(body: LoginIn, app: App, client: Client, request: Request) -> TokenPairOut:
    passwords.mark_arrival()
    # An attempt past the limits is turned away at once: it never queues for a hashing slot
    # (so a credential-stuffing storm cannot crowd out the people signing in).
    await run_in_threadpool(app.check_sign_in_limits, body.email, client)
    async with _admitted(request):
        pair = await run_in_threadpool(app.login, body.email, body.password, client)
    return token_pair(pair)


@auth.post("/refresh", response_model=TokenPairOut, summary="Rotate a refresh token for new tokens (public)",
           responses=answers(401, 403, 422),
           description="401 when the token is not a current refresh token of a live session (unknown, expired, "
                       "revoked, or already used: reuse ends its session); 403 when the account is suspended.")
def refresh(body: RefreshIn, app: App) -> TokenPairOut:
    return token_pair(app.refresh(body.refresh_token))


@auth.post("/logout", status_code=status.HTTP_204_NO_CONTENT, summary="Revoke a refresh token (public)",
           description="Ends the token's session; a token that is not one is ignored (204 all the same).")
def logout(body: RefreshIn, app: App) -> Response:
    app.revoke_session(body.refresh_token)
    return Response(status_code=204)


@auth.post("/password", status_code=status.HTTP_204_NO_CONTENT,
           summary="Change password; signs out every session (the signed-in user)",
           responses=answers(401, 403, 409, 422, 503), dependencies=HASHES,
           description="Besides the schema: `old_password` must be the current password, and `new_password` "
                       "must differ from it (422 naming the field).")
def change_password(body: PasswordIn, principal: AnyUser, app: App) -> Response:
    app.change_password(principal.user_id, body.old_password, body.new_password)
    return Response(status_code=204)


@auth.post("/password-reset", status_code=status.HTTP_202_ACCEPTED, response_model=PasswordResetRequested,
           summary="Mail a password reset token to an account's address (public; the answer never says "
                   "whether the address has an account)", responses=answers(422, 429),
                   description="429 past the mail limits (per address asked for and per client), with "
                               "`Retry-After`.")
def request_password_reset(body: PasswordResetIn, app: App, client: Client, tasks: BackgroundTasks,
                           ) -> PasswordResetRequested:
    email = app.admit_password_reset(body.email, client=client)
    # After the answer is sent: whether an account exists shows neither in it nor in its timing.
    tasks.add_task(_send_password_reset, app, email)
    return PasswordResetRequested()


def _send_password_reset(app: IdentityApplication, email: str) -> None:
    try:
        app.send_password_reset(email)
    except Exception:  # the caller was answered already; the log is where this shows
        log.exception("a password reset mail could not be sent")


@auth.post("/password-reset/confirm", status_code=status.HTTP_204_NO_CONTENT,
           summary="Set a new password with a mailed reset token; signs out every session (public)",
           responses=answers(409, 422, 503), dependencies=HASHES,
           description="Besides the schema: `token` must be a password reset token this API mailed, not expired "
                       "and issued since the password last changed (422 naming `token`); 409 when it was used "
                       "already.")
def confirm_password_reset(body: PasswordResetConfirmIn, app: App) -> Response:
    app.reset_password(body.token, body.new_password)
    return Response(status_code=204)


# -- keys ---------------------------------------------------------------------------

@wellknown.get("/.well-known/jwks.json", response_model=JWKS, summary="Public signing keys (public)")
def jwks(keys: Keys, response: Response) -> dict[str, Any]:
    response.headers["Cache-Control"] = "public, max-age=60"
    return keys.jwks()


@admin.post("/signing-keys/rotate", response_model=KeyRotated,
            summary="Start signing with a new key; old tokens stay valid (admin)")
def rotate_keys(_: Admin, keys: Keys) -> KeyRotated:
    return KeyRotated(kid=keys.rotate(), rotated_at=datetime.now(UTC))


# -- users --------------------------------------------------------------------------

@users.get("/me", response_model=UserOut, summary="The signed-in user's own account, private data included")
def me(principal: AnyUser, app: App) -> dict[str, Any]:
    return user_document(app.get_user(principal.user_id))


@users.get("/{user_id}", response_model=UserOut,
           summary="A user's account, private data included (the user or staff)")
def get_user(user_id: UserId, principal: AnyUser, app: App) -> dict[str, Any]:
    require_self_or_roles(user_id, principal)
    return user_document(app.get_user(user_id))


@users.get("/{user_id}/profile", response_model=PublicProfileOut,
           summary="A user's public profile (any signed-in user)")
def public_profile(user_id: UserId, _: AnyUser, app: App) -> dict[str, Any]:
    return asdict(app.get_public_profile(user_id))


@users.patch("/{user_id}/profile", response_model=PublicProfileOut, summary="Update the public profile (the user)",
             description="Names at least one field; a field left out keeps its value.")
def update_public_profile(user_id: UserId, body: PublicProfileIn, principal: AnyUser, app: App) -> dict[str, Any]:
    if principal.user_id != user_id:
        raise Forbidden("only the user edits their public profile")
    fields = body.model_dump(exclude_unset=True)  # unset keeps a value, null clears it
    if "time_zone" in fields:
        fields["time_zone"] = str(fields["time_zone"])
    app.update_public_profile(user_id, PublicProfileChange(**fields))
    return asdict(app.get_public_profile(user_id))


@users.patch("/{user_id}/private-profile", response_model=UserOut,
             summary="Update private details (the user or staff)",
             description="Names at least one field; a field left out keeps its value. Besides the schema: "
                         "`date_of_birth` must not be in the future (422 naming it).")
def update_private_profile(user_id: UserId, body: PrivateProfileIn, principal: AnyUser, app: App) -> dict[str, Any]:
    require_self_or_roles(user_id, principal)
    app.update_private_profile(user_id, PrivateProfileChange(**body.model_dump(exclude_unset=True)))
    return user_document(app.get_user(user_id))


@users.post("/{user_id}/roles", response_model=RolesOut,
            summary="Grant a role (staff; staff and admin roles: admin only)",
            description="409 when the user holds the role already.")
def grant_role(user_id: UserId, body: RoleIn, principal: Staff, app: App) -> dict[str, Any]:
    if body.role in STAFF_ROLES and not principal.has_any("admin"):
        raise Forbidden("only an admin grants the staff or admin role")
    app.grant_role(user_id, body.role, by=principal.user_id)
    return {"user_id": user_id, "roles": app.get_user(user_id).roles}


@users.delete("/{user_id}/roles/{role}", response_model=RolesOut,
              summary="Revoke a role (staff; staff and admin roles: admin only)",
              description="409 when the user does not hold the role, or it is the last admin's admin role.")
def revoke_role(user_id: UserId, role: Annotated[Role, Path()], principal: Staff, app: App) -> dict[str, Any]:
    if role in STAFF_ROLES and not principal.has_any("admin"):
        raise Forbidden("only an admin revokes the staff or admin role")
    app.revoke_role(user_id, role, by=principal.user_id)
    return {"user_id": user_id, "roles": app.get_user(user_id).roles}


@users.post("/{user_id}/suspension", response_model=SuspendedOut,
            summary="Suspend with a reason; sessions end at once (staff)",
            description="409 when the account is suspended already, or it is the last admin; 403 for oneself.")
def suspend(user_id: UserId, body: SuspendIn, principal: Staff, app: App) -> dict[str, Any]:
    app.suspend(user_id, by=principal.user_id, reason_code=body.reason_code, note=body.note)
    return {"user_id": user_id, "suspended": True, "reason_code": body.reason_code}


@users.delete("/{user_id}/suspension", response_model=ReinstatedOut, summary="Reinstate a suspended user (staff)",
              description="409 when the account is not suspended.")
def reinstate(user_id: UserId, principal: Staff, app: App) -> dict[str, Any]:
    app.reinstate(user_id, by=principal.user_id)
    return {"user_id": user_id, "suspended": False}


@users.put("/{user_id}/background-check", response_model=BackgroundCheckOut,
           summary="Record a background-check result (staff)")
def background_check(user_id: UserId, body: BackgroundCheckIn, _: Staff, app: App) -> dict[str, Any]:
    app.set_background_check(user_id, body.status)
    return {"user_id": user_id, "background_check": body.status}


@users.post("/{user_id}/background-check/requests", status_code=status.HTTP_202_ACCEPTED,
            response_model=BackgroundCheckStartedOut,
            summary="Start a background check with the configured provider (staff)",
            responses=answers(401, 403, 404, 409, 503))
def start_background_check(user_id: UserId, _: Staff, app: App) -> BackgroundCheckStartedOut:
    started = app.start_background_check(user_id)
    return BackgroundCheckStartedOut.model_validate({"user_id": user_id, "background_check": started.status,
                                                     "provider": started.provider, "reference": started.reference})


#: A provider's webhook is small JSON; anything larger is refused unread.
WEBHOOK_MAX_BYTES = 256 * 1024


@checks.post("/{provider}/webhooks", response_model=WebhookReceived,
             summary="A background-check provider reports on a check (public: the provider signs the body, "
                     "Checkr with X-Checkr-Signature)", responses=answers(401, 404, 413, 422))
async def background_check_webhook(
    provider: Annotated[str, Path(min_length=1, max_length=40, pattern=r"^[a-z0-9_-]+$")],
    request: Request, app: App,
) -> WebhookReceived:
    body = await capped_body(request, WEBHOOK_MAX_BYTES)
    result = await run_in_threadpool(app.receive_background_check_report, provider, body, dict(request.headers))
    return WebhookReceived.model_validate({"result": result})


@users.post("/{user_id}/erasure", response_model=ErasedOut,
            summary="Erase the user's personal data (the user or an admin)",
            description="Safe to repeat. 409 for the last admin.")
def erase(user_id: UserId, principal: AnyUser, app: App) -> dict[str, Any]:
    require_self_or_roles(user_id, principal, roles=("admin",))
    app.erase(user_id, by=principal.user_id)
    return {"user_id": user_id, "erased": True}


# -- documents and tutor applications ---------------------------------------------------

@users.post("/me/documents", status_code=status.HTTP_201_CREATED, response_model=DocumentOut,
            summary="Upload a certificate or transcript (PDF, PNG, JPEG) for an application (the user)",
            description="Besides the schema: the file's bytes must be a PDF, PNG or JPEG, its name must end as "
                        "that type does (.pdf, .png, .jpg or .jpeg) and its declared type, if any but "
                        "application/octet-stream, must be that type: 415 otherwise. 413 past the size limit.")
def upload_document(principal: AnyUser, app: App, settings: Settings,
                    file: UploadFile = File(..., description="Not empty", json_schema_extra={"minLength": 1}),
                    description: str = Form(default="", max_length=200)) -> DocumentOut:
    # One byte past the limit is enough to refuse it, without reading a huge body.
    data = file.file.read(settings.identity_upload_max_bytes + 1)
    doc = app.upload_document(principal.user_id, file.filename or "", file.content_type, data)
    return DocumentOut(document_id=doc.document_id, filename=doc.filename, content_type=doc.content_type,
                       size=doc.size, sha256=doc.sha256)


@tutoring.post("", status_code=status.HTTP_201_CREATED, response_model=ApplicationOut,
               summary="Apply to teach (the signed-in user)",
               description="409 while the caller has an application under review; 403 while suspended. Besides "
                           "the schema: each `document_ids[i]` must be a document the caller uploaded (422 naming "
                           "it), and no two may be the same id in other letter case (422 naming `document_ids`).")
def apply(body: ApplicationIn, principal: AnyUser, app: App, response: Response) -> dict[str, Any]:
    app_id = app.submit_tutor_application(principal.user_id, TutorApplicationForm(
        subjects=body.subjects, levels=body.levels, qualifications=body.qualifications, statement=body.statement,
        document_ids=body.document_ids,
    ))
    response.headers["Location"] = f"/v1/tutor-applications/{app_id}"
    return application_document(app.get_tutor_application(app_id))


@tutoring.get("", response_model=ReviewQueuePage,
              summary="The review queue: applications by status, oldest first (staff)",
              description="Besides the schema: `cursor` must be a `next_cursor` this API returned (422 naming "
                          "`cursor`).")
def list_applications(
    _: Staff, queue: Queue,
    status_: Annotated[Literal["submitted", "approved", "rejected"], Query(alias="status")] = "submitted",
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, Query(max_length=200, description="`next_cursor` of the previous page")] = None,
) -> dict[str, Any]:
    return queue.page(status_, limit, cursor)


@tutoring.get("/{application_id}", response_model=ApplicationOut, summary="An application (the applicant or staff)")
def get_application(application_id: ApplicationId, principal: AnyUser, app: App) -> dict[str, Any]:
    view = app.get_tutor_application(application_id)
    require_self_or_roles(view.user_id, principal)
    return application_document(view)


@tutoring.get("/{application_id}/documents/{document_id}", response_class=StreamingResponse,
              summary="Open a document of an application; every opening is logged (the applicant or staff)",
              responses={200: {"description": "The document's bytes, as uploaded",
                               "content": {"application/pdf": {}, "image/png": {}, "image/jpeg": {}}},
                         **answers(401, 403, 404, 503)})
def open_document(application_id: ApplicationId, document_id: DocumentId, principal: AnyUser, app: App
                  ) -> StreamingResponse:
    opened = app.open_application_document(application_id, document_id, reader=principal.user_id,
                                           reader_is_staff=principal.is_staff)
    doc = opened.document
    name = (doc.filename or f"{doc.document_id}").replace("\r", " ").replace("\n", " ")
    fallback = "".join(c if c.isascii() and c.isprintable() and c not in '"\\' else "_" for c in name)
    return StreamingResponse(opened.chunks, media_type=doc.content_type, headers={
        "Content-Length": str(doc.size),
        "Content-Disposition": f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(name, safe='')}",
        "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": "default-src 'none'; sandbox",
        "Cache-Control": "private, no-store",
        "ETag": f'"{doc.sha256}"',
    })


@tutoring.get("/{application_id}/document-access", response_model=DocumentAccessPage,
              summary="Who opened the application's documents, and when, oldest first (the applicant or staff)",
              responses=answers(401, 403, 404, 422))
def document_access(
    application_id: ApplicationId, principal: AnyUser, app: App,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    after: Annotated[int, Query(ge=0, description="`next_after` of the previous page")] = 0,
) -> DocumentAccessPage:
    entries = app.document_access(application_id, principal.user_id, principal.is_staff, limit + 1, after)
    items = [DocumentAccessOut(**asdict(e)) for e in entries[:limit]]
    return DocumentAccessPage(items=items, next_after=items[-1].seq if len(entries) > limit else None)


@admin.get("/document-access/verification", response_model=AccessLogCheck,
           summary="Check the document access log end to end: nothing changed, removed or inserted (staff)",
           responses=answers(401, 403, 503))
def verify_document_access(_: Staff, app: App) -> AccessLogCheck:
    return AccessLogCheck(**asdict(app.verify_access_log()))


@tutoring.post("/{application_id}/approve", response_model=ApplicationOut,
               summary="Approve: the applicant becomes a tutor (staff)",
               description="409 when it was decided already, or the applicant is suspended or erased; 403 for "
                           "one's own application.")
def approve(application_id: ApplicationId, body: ReviewIn, principal: Staff, app: App) -> dict[str, Any]:
    app.approve_tutor_application(application_id, principal.user_id, note=body.note)
    return application_document(app.get_tutor_application(application_id))


@tutoring.post("/{application_id}/reject", response_model=ApplicationOut, summary="Reject with a reason (staff)",
               description="409 when it was decided already; 403 for one's own application.")
def reject(application_id: ApplicationId, body: RejectIn, principal: Staff, app: App) -> dict[str, Any]:
    app.reject_tutor_application(application_id, principal.user_id, reason=body.reason)
    return application_document(app.get_tutor_application(application_id))


ROUTERS = [auth, users, tutoring, admin, wellknown, checks]
