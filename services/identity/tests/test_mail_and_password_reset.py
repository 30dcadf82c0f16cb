"""Mail through SMTP (a real SMTP server in the test: ``aiosmtpd`` on a loopback port, with
STARTTLS or implicit TLS under a certificate made here, and AUTH), and password reset by
mail through the gateway, end to end."""

from __future__ import annotations

import datetime as dt
import ipaddress
import ssl
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from email import message_from_bytes
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from identity_gateway import PASSWORD, Identity

from identity.adapters.mail import SmtpMailer
from identity.domain.errors import MailUnavailable
from servicekit.devstack import free_port

USER, SECRET = "identity@uni.example", "smtp-secret"
# aiosmtpd's warning for AUTH over implicit TLS, which it does not count as TLS.
pytestmark = pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")


@dataclass
class Inbox:
    """What the SMTP server accepted: (envelope sender, recipients, message bytes)."""

    messages: list[tuple[str, list[str], bytes]] = field(default_factory=list)
    logins: list[str] = field(default_factory=list)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append((envelope.mail_from, list(envelope.rcpt_tos), bytes(envelope.original_content)))
        return "250 Message accepted"

    def authenticate(self, server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> AuthResult:
        if isinstance(data, LoginPassword) and (data.login, data.password) == (USER.encode(), SECRET.encode()):
            self.logins.append(mechanism)
            return AuthResult(success=True)
        return AuthResult(success=False, handled=False)

    def last(self) -> Any:
        return message_from_bytes(self.messages[-1][2])


@dataclass
class Certificate:
    cert: Path
    key: Path

    def server_context(self) -> ssl.SSLContext:
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(self.cert, self.key)
        return ctx


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> Certificate:
    """A self-signed certificate for 127.0.0.1 and localhost: the CA file the mailer is told to trust."""
    folder = tmp_path_factory.mktemp("smtp-tls")
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost"),
                                                        x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    (folder / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (folder / "key.pem").write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                                       serialization.PrivateFormat.PKCS8,
                                                       serialization.NoEncryption()))
    return Certificate(folder / "cert.pem", folder / "key.pem")


@pytest.fixture
def smtp_server(certificate: Certificate) -> Iterator[Callable[..., tuple[Inbox, int]]]:
    """Starts SMTP servers: ``mode`` "starttls" (STARTTLS required, AUTH required after it),
    "ssl" (implicit TLS, AUTH required) or "none" (plain, no AUTH)."""
    running: list[Controller] = []

    def start(mode: str) -> tuple[Inbox, int]:
        inbox, port = Inbox(), free_port()
        options: dict[str, Any] = {}
        if mode == "starttls":
            options = {"tls_context": certificate.server_context(), "require_starttls": True,
                       "authenticator": inbox.authenticate, "auth_required": True}
        elif mode == "ssl":
            # The whole connection is TLS; aiosmtpd only knows STARTTLS as TLS, hence auth_require_tls off.
            options = {"ssl_context": certificate.server_context(), "authenticator": inbox.authenticate,
                       "auth_required": True, "auth_require_tls": False}
        controller = Controller(inbox, hostname="127.0.0.1", port=port, **options)
        controller.start()
        running.append(controller)
        return inbox, port

    yield start
    for controller in running:
        controller.stop()


def mailer(port: int, certificate: Certificate, **options: Any) -> SmtpMailer:
    return SmtpMailer("localhost", port, "https://identity.uni.example", ca_file=certificate.cert, timeout=5,
                      sender="Alpha Peer <no-reply@uni.example>", **options)


def test_smtp_with_starttls_and_auth_delivers_a_verification_mail(
    smtp_server: Callable[..., tuple[Inbox, int]], certificate: Certificate
) -> None:
    inbox, port = smtp_server("starttls")
    mailer(port, certificate, security="starttls", username=USER, password=SECRET).send_verification(
        "ada@uni.example", "Ada", "tok-123456789")
    [(sender, recipients, _)] = inbox.messages
    assert (sender, recipients) == ("no-reply@uni.example", ["ada@uni.example"]) and inbox.logins
    msg = inbox.last()
    assert msg["Subject"] == "Confirm your Alpha Peer email" and msg["Message-ID"].endswith("@uni.example>")
    assert "token=tok-123456789" in msg.get_payload() and msg["Date"]


def test_smtp_over_implicit_tls_delivers_a_reset_mail(smtp_server: Callable[..., tuple[Inbox, int]],
                                                      certificate: Certificate) -> None:
    inbox, port = smtp_server("ssl")
    mailer(port, certificate, security="ssl", username=USER, password=SECRET).send_password_reset(
        "ada@uni.example", "Ada", "tok-abcdefghij", valid_minutes=60)
    body = inbox.last().get_payload()
    assert "token=tok-abcdefghij" in body and "expires in 60 minutes" in body


def test_smtp_failures_are_mail_unavailable_never_a_crash(smtp_server: Callable[..., tuple[Inbox, int]],
                                                          certificate: Certificate) -> None:
    inbox, port = smtp_server("starttls")
    wrong = [
        mailer(port, certificate, security="starttls", username=USER, password="wrong"),  # AUTH refused
        mailer(port, certificate, security="starttls"),  # no AUTH where it is required
        mailer(free_port(), certificate, security="starttls"),  # nobody listening
    ]
    for m in wrong:
        with pytest.raises(MailUnavailable) as refused:
            m.send_verification("ada@uni.example", "Ada", "tok-123456789")
        assert refused.value.status == 503 and refused.value.retry_after == 30
    plain = SmtpMailer("localhost", port, "https://x", security="none", timeout=5)
    with pytest.raises(MailUnavailable):  # the server insists on STARTTLS first
        plain.send_verification("ada@uni.example", "Ada", "tok-123456789")
    assert inbox.messages == []


def test_a_server_certificate_nobody_trusts_is_refused(smtp_server: Callable[..., tuple[Inbox, int]],
                                                       certificate: Certificate) -> None:
    inbox, port = smtp_server("starttls")
    system_cas_only = SmtpMailer("localhost", port, "https://x", security="starttls", username=USER,
                                 password=SECRET, timeout=5)
    with pytest.raises(MailUnavailable):
        system_cas_only.send_verification("ada@uni.example", "Ada", "tok-123456789")
    assert inbox.messages == []


# -- password reset through the gateway, mailed by SMTP -----------------------------------

def test_password_reset_by_mail_end_to_end(identity: Callable[..., Identity],
                                           smtp_server: Callable[..., tuple[Inbox, int]],
                                           certificate: Certificate) -> None:
    inbox, port = smtp_server("starttls")
    idp = identity(identity_smtp_host="localhost", identity_smtp_port=port, identity_smtp_security="starttls",
                   identity_smtp_username=USER, identity_smtp_password=SECRET,
                   identity_smtp_ca_file=certificate.cert, identity_mail_from="Alpha Peer <no-reply@uni.example>",
                   identity_mail_max_per_account=2)
    ada = idp.register("ada@uni.example", "Ada")
    assert inbox.messages[-1][1] == ["ada@uni.example"]  # the verification mail went by SMTP
    pair = idp.http.post("/v1/auth/login", json={"email": "ada@uni.example", "password": PASSWORD}).json()

    def token_in_last_mail() -> str:
        payload = inbox.last().get_payload()
        return next(line.split("=", 1)[1] for line in payload.splitlines() if line.startswith("token="))

    # Known and unknown addresses get the same answer; only the known one gets mail.
    before = len(inbox.messages)
    unknown = idp.http.post("/v1/auth/password-reset", json={"email": "nobody@uni.example"})
    assert unknown.status_code == 202 and len(inbox.messages) == before
    known = idp.http.post("/v1/auth/password-reset", json={"email": "Ada@Uni.Example"})
    assert known.status_code == 202 and known.json() == unknown.json() == {"password_reset": "requested"}
    assert len(inbox.messages) == before + 1 and inbox.last()["Subject"] == "Reset your Alpha Peer password"
    token = token_in_last_mail()

    bad = idp.http.post("/v1/auth/password-reset/confirm", json={"token": token, "new_password": "short"})
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "new_password"
    done = idp.http.post("/v1/auth/password-reset/confirm", json={"token": token, "new_password": "a-new-password-2"})
    assert done.status_code == 204
    again = idp.http.post("/v1/auth/password-reset/confirm", json={"token": token, "new_password": "a-new-password-3"})
    assert again.status_code == 409 and again.json()["errors"][0]["field"] == "token"
    unknown_token = idp.http.post("/v1/auth/password-reset/confirm",
                                  json={"token": "x" * 43, "new_password": "a-new-password-3"})
    assert unknown_token.status_code == 422 and unknown_token.json()["errors"][0]["field"] == "token"
    # Every session ended; the new password works, the old one does not.
    assert idp.http.post("/v1/auth/refresh", json={"refresh_token": pair["refresh_token"]}).status_code == 401
    assert idp.http.post("/v1/auth/login", json={"email": "ada@uni.example", "password": PASSWORD}).status_code == 401
    fresh = idp.login("ada@uni.example", "a-new-password-2")
    me = idp.http.get("/v1/users/me", headers={"Authorization": f"Bearer {fresh}"})
    assert me.json()["user_id"] == ada and me.json()["email_verified"] is True

    # A third request for the account within the window is held off, with the same answer for any address.
    limited = idp.http.post("/v1/auth/password-reset", json={"email": "ada@uni.example"})
    assert limited.status_code == 202
    limited = idp.http.post("/v1/auth/password-reset", json={"email": "ada@uni.example"})
    assert limited.status_code == 429 and int(limited.headers["retry-after"]) >= 1
    malformed = idp.http.post("/v1/auth/password-reset", json={"email": "not an address"})
    assert malformed.status_code == 422 and malformed.json()["errors"][0]["field"] == "email"


def test_registration_succeeds_while_the_mail_server_is_away_and_resending_is_limited(
    identity: Callable[..., Identity], smtp_server: Callable[..., tuple[Inbox, int]]
) -> None:
    idp = identity(identity_smtp_host="127.0.0.1", identity_smtp_port=free_port(), identity_smtp_security="none",
                   identity_smtp_timeout=2, identity_mail_max_per_account=2)
    r = idp.http.post("/v1/auth/register", json={"email": "eve@uni.example", "password": PASSWORD,
                                                 "display_name": "Eve"})
    assert r.status_code == 201 and r.json()["email_verification"] == "not_sent"
    token = idp.login("eve@uni.example")
    away = idp.http.post("/v1/auth/resend-verification", headers={"Authorization": f"Bearer {token}"})
    assert away.status_code == 503 and away.headers["content-type"].startswith("application/problem+json")
    assert away.headers["retry-after"] == "30"
    inbox, port = smtp_server("none")
    idp.app.mailer.port = port  # type: ignore[attr-defined]  # the mail server is back
    sent = idp.http.post("/v1/auth/resend-verification", headers={"Authorization": f"Bearer {token}"})
    assert sent.status_code == 202 and sent.json() == {"email_verification": "sent"}
    assert inbox.messages[-1][1] == ["eve@uni.example"]
    held = idp.http.post("/v1/auth/resend-verification", headers={"Authorization": f"Bearer {token}"})
    assert held.status_code == 429 and held.json()["status"] == 429
