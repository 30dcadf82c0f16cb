"""Identity's HTTP gateway: each route checks who may call it, parses its body into a
command value, calls the application and shapes the answer. Private data is the owner's
and staff's only. Handlers are plain ``def`` so FastAPI runs the synchronous event store in
its thread pool; refusals are the domain's, answered by the kit's gateway."""

from __future__ import annotations

from dataclasses import asdict
from datetime import UTC, datetime
from typing import Annotated, Any, Literal
from uuid import UUID

from fastapi import APIRouter, Depends, File, Form, Query, Request, Response, UploadFile, status

from alphapeer_contracts.vocabulary import STAFF_ROLES
from identity.adapters.review_queue import ReviewQueue
from identity.adapters.signing_keys import SigningKeyStore
from identity.application import ApplicationView, IdentityApplication, TokenPair, UserView
from identity.domain.commands import PrivateProfileChange, PublicProfileChange, Registration, TutorApplicationForm
from identity.schemas import (
    ApplicationIn,
    BackgroundCheckIn,
    DocumentOut,
    KeyRotated,
    LoginIn,
    PasswordIn,
    PrivateProfileIn,
    PublicProfileIn,
    RefreshIn,
    Registered,
    RegisterIn,
    RejectIn,
    ReviewIn,
    RoleIn,
    SuspendIn,
    TokenIn,
)
from identity.schemas import TokenPair as TokenPairOut
from identity.settings import IdentitySettings
from servicekit.auth import Principal, current_principal, require_roles, require_self_or_roles
from servicekit.errors import Forbidden, Invalid

Staff = Annotated[Principal, Depends(require_roles(*STAFF_ROLES))]
Admin = Annotated[Principal, Depends(require_roles("admin"))]
AnyUser = Annotated[Principal, Depends(current_principal)]


def _identity(request: Request) -> IdentityApplication:
    app: IdentityApplication = request.app.state.identity
    return app


def _keys(request: Request) -> SigningKeyStore:
    keys: SigningKeyStore = request.app.state.keys
    return keys


def _queue(request: Request) -> ReviewQueue:
    queue: ReviewQueue = request.app.state.queue
    return queue


def _settings(request: Request) -> IdentitySettings:
    settings: IdentitySettings = request.app.state.settings
    return settings


App = Annotated[IdentityApplication, Depends(_identity)]
Keys = Annotated[SigningKeyStore, Depends(_keys)]
Queue = Annotated[ReviewQueue, Depends(_queue)]
Settings = Annotated[IdentitySettings, Depends(_settings)]

auth = APIRouter(prefix="/v1/auth", tags=["auth"])
users = APIRouter(prefix="/v1/users", tags=["users"])
tutoring = APIRouter(prefix="/v1/tutor-applications", tags=["tutor vetting"])
admin = APIRouter(prefix="/v1/admin", tags=["admin"])
wellknown = APIRouter(tags=["keys"])


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
           summary="Register with email and password (public)")
def register(body: RegisterIn, app: App, response: Response) -> Registered:
    user_id = app.register(Registration(
        email=body.email, password=body.password, display_name=body.display_name, time_zone=body.time_zone,
        languages=body.languages, referral=body.referral.model_dump(mode="json") if body.referral else None,
    ))
    response.headers["Location"] = f"/v1/users/{user_id}"
    return Registered(user_id=user_id)


@auth.post("/verify-email", summary="Confirm an email address with the mailed token (public)")
def verify_email(body: TokenIn, app: App) -> dict[str, Any]:
    return {"user_id": app.verify_email(body.token), "email_verified": True}


@auth.post("/resend-verification", status_code=status.HTTP_202_ACCEPTED,
           summary="Mail a new verification token (the signed-in user)")
def resend_verification(principal: AnyUser, app: App) -> dict[str, str]:
    app.send_verification(principal.user_id)
    return {"email_verification": "sent"}


@auth.post("/login", response_model=TokenPairOut, summary="Exchange email and password for tokens (public)")
def login(body: LoginIn, app: App) -> TokenPairOut:
    return token_pair(app.login(body.email, body.password))


@auth.post("/refresh", response_model=TokenPairOut, summary="Rotate a refresh token for new tokens (public)")
def refresh(body: RefreshIn, app: App) -> TokenPairOut:
    return token_pair(app.refresh(body.refresh_token))


@auth.post("/logout", status_code=status.HTTP_204_NO_CONTENT, summary="Revoke a refresh token (public)")
def logout(body: RefreshIn, app: App) -> Response:
    app.revoke_session(body.refresh_token)
    return Response(status_code=204)


@auth.post("/password", status_code=status.HTTP_204_NO_CONTENT,
           summary="Change password; signs out every session (the signed-in user)")
def change_password(body: PasswordIn, principal: AnyUser, app: App) -> Response:
    app.change_password(principal.user_id, body.old_password, body.new_password)
    return Response(status_code=204)


# -- keys ---------------------------------------------------------------------------

@wellknown.get("/.well-known/jwks.json", summary="Public signing keys (public)")
def jwks(keys: Keys, response: Response) -> dict[str, Any]:
    response.headers["Cache-Control"] = "public, max-age=60"
    return keys.jwks()


@admin.post("/signing-keys/rotate", response_model=KeyRotated,
            summary="Start signing with a new key; old tokens stay valid (admin)")
def rotate_keys(_: Admin, keys: Keys) -> KeyRotated:
    return KeyRotated(kid=keys.rotate(), rotated_at=datetime.now(UTC))


# -- users --------------------------------------------------------------------------

@users.get("/me", summary="The signed-in user's own account, private data included")
def me(principal: AnyUser, app: App) -> dict[str, Any]:
    return user_document(app.get_user(principal.user_id))


@users.get("/{user_id}", summary="A user's account, private data included (the user or staff)")
def get_user(user_id: UUID, principal: AnyUser, app: App) -> dict[str, Any]:
    require_self_or_roles(user_id, principal)
    return user_document(app.get_user(user_id))


@users.get("/{user_id}/profile", summary="A user's public profile (any signed-in user)")
def public_profile(user_id: UUID, _: AnyUser, app: App) -> dict[str, Any]:
    return asdict(app.get_public_profile(user_id))


@users.patch("/{user_id}/profile", summary="Update the public profile (the user)")
def update_public_profile(user_id: UUID, body: PublicProfileIn, principal: AnyUser, app: App) -> dict[str, Any]:
    if principal.user_id != user_id:
        raise Forbidden("only the user edits their public profile")
    fields = body.model_dump(exclude_unset=True)  # unset keeps a value, null clears it
    if not fields:
        raise Invalid("body", "names no field to change")
    app.update_public_profile(user_id, PublicProfileChange(**fields))
    return asdict(app.get_public_profile(user_id))


@users.patch("/{user_id}/private-profile", summary="Update private details (the user or staff)")
def update_private_profile(user_id: UUID, body: PrivateProfileIn, principal: AnyUser, app: App) -> dict[str, Any]:
    require_self_or_roles(user_id, principal)
    fields = body.model_dump(exclude_unset=True)
    if not fields:
        raise Invalid("body", "names no field to change")
    app.update_private_profile(user_id, PrivateProfileChange(**fields))
    return user_document(app.get_user(user_id))


@users.post("/{user_id}/roles", summary="Grant a role (staff; staff and admin roles: admin only)")
def grant_role(user_id: UUID, body: RoleIn, principal: Staff, app: App) -> dict[str, Any]:
    if body.role in STAFF_ROLES and not principal.has_any("admin"):
        raise Forbidden("only an admin grants the staff or admin role")
    app.grant_role(user_id, body.role, by=principal.user_id)
    return {"user_id": user_id, "roles": app.get_user(user_id).roles}


@users.delete("/{user_id}/roles/{role}", summary="Revoke a role (staff; staff and admin roles: admin only)")
def revoke_role(user_id: UUID, role: str, principal: Staff, app: App) -> dict[str, Any]:
    if role in STAFF_ROLES and not principal.has_any("admin"):
        raise Forbidden("only an admin revokes the staff or admin role")
    app.revoke_role(user_id, role, by=principal.user_id)
    return {"user_id": user_id, "roles": app.get_user(user_id).roles}


@users.post("/{user_id}/suspension", summary="Suspend with a reason; sessions end at once (staff)")
def suspend(user_id: UUID, body: SuspendIn, principal: Staff, app: App) -> dict[str, Any]:
    app.suspend(user_id, by=principal.user_id, reason_code=body.reason_code, note=body.note)
    return {"user_id": user_id, "suspended": True, "reason_code": body.reason_code}


@users.delete("/{user_id}/suspension", summary="Reinstate a suspended user (staff)")
def reinstate(user_id: UUID, principal: Staff, app: App) -> dict[str, Any]:
    app.reinstate(user_id, by=principal.user_id)
    return {"user_id": user_id, "suspended": False}


@users.put("/{user_id}/background-check", summary="Record a background-check result (staff)")
def background_check(user_id: UUID, body: BackgroundCheckIn, _: Staff, app: App) -> dict[str, Any]:
    app.set_background_check(user_id, body.status)
    return {"user_id": user_id, "background_check": body.status}


@users.post("/{user_id}/background-check/requests", status_code=status.HTTP_202_ACCEPTED,
            summary="Start a background check with the configured provider (staff)")
def start_background_check(user_id: UUID, _: Staff, app: App) -> dict[str, Any]:
    started = app.start_background_check(user_id)
    return {"user_id": user_id, "background_check": started.status, "provider": started.provider}


@users.post("/{user_id}/erasure", summary="Erase the user's personal data (the user or an admin)")
def erase(user_id: UUID, principal: AnyUser, app: App) -> dict[str, Any]:
    require_self_or_roles(user_id, principal, roles=("admin",))
    app.erase(user_id, by=principal.user_id)
    return {"user_id": user_id, "erased": True}


# -- documents and tutor applications ---------------------------------------------------

@users.post("/me/documents", status_code=status.HTTP_201_CREATED, response_model=DocumentOut,
            summary="Upload a certificate or transcript (PDF, PNG, JPEG) for an application (the user)")
def upload_document(principal: AnyUser, app: App, settings: Settings, file: UploadFile = File(...),
                    description: str = Form(default="", max_length=200)) -> DocumentOut:
    # One byte past the limit is enough to refuse it, without reading a huge body.
    data = file.file.read(settings.identity_upload_max_bytes + 1)
    doc = app.upload_document(principal.user_id, file.filename or "", file.content_type, data)
    return DocumentOut(document_id=doc.document_id, filename=doc.filename, content_type=doc.content_type,
                       size=doc.size, sha256=doc.sha256)


@tutoring.post("", status_code=status.HTTP_201_CREATED, summary="Apply to teach (the signed-in user)")
def apply(body: ApplicationIn, principal: AnyUser, app: App, response: Response) -> dict[str, Any]:
    app_id = app.submit_tutor_application(principal.user_id, TutorApplicationForm(
        subjects=body.subjects, levels=body.levels, qualifications=body.qualifications, statement=body.statement,
        document_ids=body.document_ids,
    ))
    response.headers["Location"] = f"/v1/tutor-applications/{app_id}"
    return application_document(app.get_tutor_application(app_id))


@tutoring.get("", summary="The review queue: applications by status, oldest first (staff)")
def list_applications(
    _: Staff, queue: Queue,
    status_: Annotated[Literal["submitted", "approved", "rejected"], Query(alias="status")] = "submitted",
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> dict[str, Any]:
    return queue.page(status_, limit, cursor)


@tutoring.get("/{application_id}", summary="An application (the applicant or staff)")
def get_application(application_id: UUID, principal: AnyUser, app: App) -> dict[str, Any]:
    view = app.get_tutor_application(application_id)
    require_self_or_roles(view.user_id, principal)
    return application_document(view)


@tutoring.post("/{application_id}/approve", summary="Approve: the applicant becomes a tutor (staff)")
def approve(application_id: UUID, body: ReviewIn, principal: Staff, app: App) -> dict[str, Any]:
    app.approve_tutor_application(application_id, principal.user_id, note=body.note)
    return application_document(app.get_tutor_application(application_id))


@tutoring.post("/{application_id}/reject", summary="Reject with a reason (staff)")
def reject(application_id: UUID, body: RejectIn, principal: Staff, app: App) -> dict[str, Any]:
    app.reject_tutor_application(application_id, principal.user_id, reason=body.reason)
    return application_document(app.get_tutor_application(application_id))


ROUTERS = [auth, users, tutoring, admin, wellknown]
