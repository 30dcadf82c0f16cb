"""Identity's HTTP gateway. Every route names the roles allowed; private data is the
owner's and staff's only. Handlers are plain ``def`` so FastAPI runs the synchronous event
store in its thread pool."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal
from uuid import UUID

from fastapi import APIRouter, Depends, FastAPI, File, Form, Query, Request, Response, UploadFile, status

from identity import domain, views
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
    TokenPair,
)
from identity.services import Identity
from servicekit.auth import Principal, current_principal, require_roles, require_self_or_roles
from servicekit.problems import Problem, field_error

Staff = Annotated[Principal, Depends(require_roles("staff", "admin"))]
Admin = Annotated[Principal, Depends(require_roles("admin"))]
AnyUser = Annotated[Principal, Depends(current_principal)]


def identity(request: Request) -> Identity:
    svc: Identity = request.app.state.identity
    return svc


Svc = Annotated[Identity, Depends(identity)]


def translate_errors(exc: Exception) -> Problem:
    """Domain exceptions → problem documents naming the field and the reason."""
    if isinstance(exc, domain.ValidationError):
        return field_error(exc.field or "body", exc.reason)
    if isinstance(exc, domain.InvalidCredentials):
        return Problem(401, "Invalid credentials", str(exc) or "email or password is wrong")
    if isinstance(exc, domain.AccountSuspended):
        return Problem(403, "Account suspended", "this account is suspended; contact support")
    if isinstance(exc, domain.NotFound):
        return Problem(404, "Not found", str(exc))
    if isinstance(exc, domain.EmailTaken):
        return field_error("email", "is already registered", status=409, title="Conflict")
    if isinstance(exc, domain.SelfReview):
        return Problem(403, "Forbidden", str(exc) or "you cannot review your own application")
    if isinstance(exc, domain.Forbidden):
        return Problem(403, "Forbidden", str(exc))
    if isinstance(exc, domain.Conflict):
        field = getattr(exc, "field", None)
        if field:
            return field_error(field, str(exc), status=409, title="Conflict")
        return Problem(409, "Conflict", str(exc))
    return Problem(400, "Rejected", str(exc))


def install_error_translation(app: FastAPI) -> None:
    @app.exception_handler(domain.IdentityError)
    async def _domain_error(request: Request, exc: domain.IdentityError) -> Any:
        from servicekit.gateway import problem_response

        return problem_response(request, translate_errors(exc))


auth = APIRouter(prefix="/v1/auth", tags=["auth"])
users = APIRouter(prefix="/v1/users", tags=["users"])
tutoring = APIRouter(prefix="/v1/tutor-applications", tags=["tutor vetting"])
admin = APIRouter(prefix="/v1/admin", tags=["admin"])
wellknown = APIRouter(tags=["keys"])


# -- auth ---------------------------------------------------------------------------

@auth.post("/register", status_code=status.HTTP_201_CREATED, response_model=Registered,
           summary="Register with email and password (public)")
def register(body: RegisterIn, svc: Svc, response: Response) -> Registered:
    user_id = svc.register(body)
    response.headers["Location"] = f"/v1/users/{user_id}"
    return Registered(user_id=user_id)


@auth.post("/verify-email", summary="Confirm an email address with the mailed token (public)")
def verify_email(body: TokenIn, svc: Svc) -> dict[str, Any]:
    return {"user_id": svc.app.verify_email(body.token), "email_verified": True}


@auth.post("/resend-verification", status_code=status.HTTP_202_ACCEPTED,
           summary="Mail a new verification token (the signed-in user)")
def resend_verification(principal: AnyUser, svc: Svc) -> dict[str, str]:
    svc.send_verification(principal.user_id)
    return {"email_verification": "sent"}


@auth.post("/login", response_model=TokenPair, summary="Exchange email and password for tokens (public)")
def login(body: LoginIn, svc: Svc) -> TokenPair:
    return svc.login(body.email, body.password)


@auth.post("/refresh", response_model=TokenPair, summary="Rotate a refresh token for new tokens (public)")
def refresh(body: RefreshIn, svc: Svc) -> TokenPair:
    return svc.refresh(body.refresh_token)


@auth.post("/logout", status_code=status.HTTP_204_NO_CONTENT, summary="Revoke a refresh token (public)")
def logout(body: RefreshIn, svc: Svc) -> Response:
    svc.app.revoke_session(body.refresh_token)
    return Response(status_code=204)


@auth.post("/password", status_code=status.HTTP_204_NO_CONTENT,
           summary="Change password; signs out every session (the signed-in user)")
def change_password(body: PasswordIn, principal: AnyUser, svc: Svc) -> Response:
    svc.app.change_password(principal.user_id, body.old_password, body.new_password)
    return Response(status_code=204)


# -- keys ---------------------------------------------------------------------------

@wellknown.get("/.well-known/jwks.json", summary="Public signing keys (public)")
def jwks(svc: Svc, response: Response) -> dict[str, Any]:
    response.headers["Cache-Control"] = "public, max-age=60"
    return svc.keys.jwks()


@admin.post("/signing-keys/rotate", response_model=KeyRotated,
            summary="Start signing with a new key; old tokens stay valid (admin)")
def rotate_keys(_: Admin, svc: Svc) -> KeyRotated:
    return KeyRotated(kid=svc.keys.rotate(), rotated_at=datetime.now(UTC))


# -- users --------------------------------------------------------------------------

@users.get("/me", summary="The signed-in user's own account, private data included")
def me(principal: AnyUser, svc: Svc) -> dict[str, Any]:
    return svc.user_document(principal.user_id)


@users.get("/{user_id}", summary="A user's account, private data included (the user or staff)")
def get_user(user_id: UUID, principal: AnyUser, svc: Svc) -> dict[str, Any]:
    require_self_or_roles(user_id, principal)
    return svc.user_document(user_id)


@users.get("/{user_id}/profile", summary="A user's public profile (any signed-in user)")
def public_profile(user_id: UUID, _: AnyUser, svc: Svc) -> dict[str, Any]:
    return svc.public_profile(user_id)


@users.patch("/{user_id}/profile", summary="Update the public profile (the user)")
def update_public_profile(user_id: UUID, body: PublicProfileIn, principal: AnyUser, svc: Svc) -> dict[str, Any]:
    if principal.user_id != user_id:
        raise Problem(403, "Forbidden", "only the user edits their public profile")
    fields = body.model_dump(exclude_unset=True)
    if not fields:
        raise field_error("body", "names no field to change")
    svc.app.update_public_profile(user_id, **fields)
    return svc.public_profile(user_id)


@users.patch("/{user_id}/private-profile", summary="Update private details (the user or staff)")
def update_private_profile(user_id: UUID, body: PrivateProfileIn, principal: AnyUser, svc: Svc) -> dict[str, Any]:
    require_self_or_roles(user_id, principal)
    fields = body.model_dump(exclude_unset=True)
    if not fields:
        raise field_error("body", "names no field to change")
    svc.app.update_private_profile(user_id, **fields)
    return svc.user_document(user_id)


@users.post("/{user_id}/roles", summary="Grant a role (staff; staff and admin roles: admin only)")
def grant_role(user_id: UUID, body: RoleIn, principal: Staff, svc: Svc) -> dict[str, Any]:
    if body.role in ("staff", "admin") and not principal.has_any("admin"):
        raise Problem(403, "Forbidden", "only an admin grants the staff or admin role")
    svc.app.grant_role(user_id, body.role, by=principal.user_id)
    return {"user_id": user_id, "roles": svc.app.get_user(user_id).roles}


@users.delete("/{user_id}/roles/{role}", summary="Revoke a role (staff; staff and admin roles: admin only)")
def revoke_role(user_id: UUID, role: str, principal: Staff, svc: Svc) -> dict[str, Any]:
    if role in ("staff", "admin") and not principal.has_any("admin"):
        raise Problem(403, "Forbidden", "only an admin revokes the staff or admin role")
    svc.app.revoke_role(user_id, role, by=principal.user_id)
    return {"user_id": user_id, "roles": svc.app.get_user(user_id).roles}


@users.post("/{user_id}/suspension", summary="Suspend with a reason; sessions end at once (staff)")
def suspend(user_id: UUID, body: SuspendIn, principal: Staff, svc: Svc) -> dict[str, Any]:
    if user_id == principal.user_id:
        raise Problem(403, "Forbidden", "you cannot suspend yourself")
    svc.app.suspend(user_id, by=principal.user_id, reason_code=body.reason_code, note=body.note)
    return {"user_id": user_id, "suspended": True, "reason_code": body.reason_code}


@users.delete("/{user_id}/suspension", summary="Reinstate a suspended user (staff)")
def reinstate(user_id: UUID, principal: Staff, svc: Svc) -> dict[str, Any]:
    svc.app.reinstate(user_id, by=principal.user_id)
    return {"user_id": user_id, "suspended": False}


@users.put("/{user_id}/background-check", summary="Record a background-check result (staff)")
def background_check(user_id: UUID, body: BackgroundCheckIn, _: Staff, svc: Svc) -> dict[str, Any]:
    svc.app.set_background_check(user_id, body.status, provider=svc.settings.identity_background_check_provider)
    return {"user_id": user_id, "background_check": body.status}


@users.post("/{user_id}/background-check/requests", status_code=status.HTTP_202_ACCEPTED,
            summary="Start a background check with the configured provider (staff)")
def start_background_check(user_id: UUID, _: Staff, svc: Svc) -> dict[str, Any]:
    provider = svc.background
    initial = provider.start(user_id)
    svc.app.set_background_check(user_id, initial, provider=provider.name)
    return {"user_id": user_id, "background_check": initial, "provider": provider.name}


@users.post("/{user_id}/erasure", summary="Erase the user's personal data (the user or an admin)")
def erase(user_id: UUID, principal: AnyUser, svc: Svc) -> dict[str, Any]:
    require_self_or_roles(user_id, principal, roles=("admin",))
    svc.erase(user_id, by=principal.user_id)
    return {"user_id": user_id, "erased": True}


# -- documents and tutor applications ---------------------------------------------------

@users.post("/me/documents", status_code=status.HTTP_201_CREATED, response_model=DocumentOut,
            summary="Upload a certificate or transcript (PDF, PNG, JPEG) for an application (the user)")
def upload_document(principal: AnyUser, svc: Svc, file: UploadFile = File(...),
                    description: str = Form(default="", max_length=200)) -> DocumentOut:
    data = file.file.read(svc.settings.identity_upload_max_bytes + 1)
    doc = svc.store_document(principal.user_id, file.filename or "", file.content_type, data)
    return DocumentOut(document_id=doc.document_id, filename=doc.filename, content_type=doc.content_type,
                       size=doc.size, sha256=doc.sha256)


@tutoring.post("", status_code=status.HTTP_201_CREATED, summary="Apply to teach (the signed-in user)")
def apply(body: ApplicationIn, principal: AnyUser, svc: Svc, response: Response) -> dict[str, Any]:
    app_id = svc.submit_application(principal.user_id, body)
    response.headers["Location"] = f"/v1/tutor-applications/{app_id}"
    return svc.application_document(app_id)


@tutoring.get("", summary="The review queue: applications by status, oldest first (staff)")
def list_applications(
    _: Staff, svc: Svc, request: Request,
    status_: Annotated[Literal["submitted", "approved", "rejected"], Query(alias="status")] = "submitted",
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> dict[str, Any]:
    queue = request.app.state.queue
    queue.wait_for(svc.app.recorder.max_notification_id() or 0)  # staff see what was just submitted
    try:
        return views.list_applications(request.app.state.db, status_, limit, cursor)
    except views.CursorError as exc:
        raise field_error("cursor", str(exc)) from exc


@tutoring.get("/{application_id}", summary="An application (the applicant or staff)")
def get_application(application_id: UUID, principal: AnyUser, svc: Svc) -> dict[str, Any]:
    doc = svc.application_document(application_id)
    require_self_or_roles(doc["user_id"], principal)
    return doc


@tutoring.post("/{application_id}/approve", summary="Approve: the applicant becomes a tutor (staff)")
def approve(application_id: UUID, body: ReviewIn, principal: Staff, svc: Svc) -> dict[str, Any]:
    svc.app.approve_tutor_application(application_id, principal.user_id, note=body.note)
    return svc.application_document(application_id)


@tutoring.post("/{application_id}/reject", summary="Reject with a reason (staff)")
def reject(application_id: UUID, body: RejectIn, principal: Staff, svc: Svc) -> dict[str, Any]:
    svc.app.reject_tutor_application(application_id, principal.user_id, reason=body.reason)
    return svc.application_document(application_id)


ROUTERS = [auth, users, tutoring, admin, wellknown]
