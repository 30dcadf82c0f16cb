"""Outgoing mail (``ports.Mailer``). With no SMTP server configured (the default) messages
are written as ``.eml`` files to a local folder, where a developer — or the README's
walk-through — reads them. With ``ALPHAPEER_IDENTITY_SMTP_HOST`` set they go to that server
(``smtplib``): STARTTLS (port 587, the default), implicit TLS (465) or plain, with optional
AUTH; the server's certificate is checked against the system's CAs or a CA file."""

from __future__ import annotations

import contextlib
import logging
import smtplib
import ssl
import time
import uuid
from email import message_from_bytes
from email.message import EmailMessage
from email.utils import formatdate, make_msgid, parseaddr
from pathlib import Path
from typing import Literal

from identity.domain.errors import MailUnavailable
from identity.domain.ports import Mailer
from identity.settings import IdentitySettings

log = logging.getLogger(__name__)

DEFAULT_SENDER = "Alpha Peer <no-reply@alphapeer.local>"


class Composer:
    """The messages identity sends; subclasses deliver them. ``public_url`` is identity's
    address as users reach it."""

    def __init__(self, public_url: str, sender: str = DEFAULT_SENDER) -> None:
        self.public_url = public_url.rstrip("/")
        self.sender = sender

    def send_verification(self, to: str, display_name: str, token: str) -> None:
        self.send(
            to,
            "Confirm your Alpha Peer email",
            f"Hello {display_name},\n\nConfirm your address with this token:\n\ntoken={token}\n\n"
            f"(POST it to {self.public_url}/v1/auth/verify-email). It expires in 48 hours.\n",
        )

    def send_password_reset(self, to: str, display_name: str, token: str, valid_minutes: int) -> None:
        self.send(
            to,
            "Reset your Alpha Peer password",
            f"Hello {display_name},\n\nSomeone (we hope you) asked to reset the password of this account.\n"
            f"Choose a new password with this token:\n\ntoken={token}\n\n"
            f"(POST it with your new password to {self.public_url}/v1/auth/password-reset/confirm).\n"
            f"It works once and expires in {valid_minutes} minutes; setting a new password signs out "
            "every session.\nIf you did not ask for this, ignore this mail: your password stays as it is.\n",
        )

    def message(self, to: str, subject: str, body: str) -> EmailMessage:
        msg = EmailMessage()
        msg["From"] = self.sender
        msg["To"] = to
        msg["Subject"] = subject
        msg["Date"] = formatdate(localtime=False)
        domain = parseaddr(self.sender)[1].rpartition("@")[2] or "alphapeer.local"
        msg["Message-ID"] = make_msgid(domain=domain)
        msg.set_content(body, cte="8bit")  # readable as-is: no quoted-printable soft breaks
        return msg

    def send(self, to: str, subject: str, body: str) -> None:
        self.deliver(self.message(to, subject, body))

    def deliver(self, msg: EmailMessage) -> None:
        raise NotImplementedError

    def forget(self, to: str) -> None:
        """Nothing to delete: a message sent is no longer ours (SMTP)."""


class MailFolder(Composer):
    """``ports.Mailer`` writing each message to ``folder`` as an ``.eml`` file."""

    def __init__(self, folder: Path, public_url: str, sender: str = DEFAULT_SENDER) -> None:
        super().__init__(public_url, sender)
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)

    def deliver(self, msg: EmailMessage) -> None:
        path = self.folder / f"{time.time_ns()}-{uuid.uuid4().hex[:6]}.eml"
        tmp = path.with_suffix(".part")
        tmp.write_bytes(bytes(msg))
        tmp.replace(path)

    def forget(self, to: str) -> None:
        """Deletes every message to ``to`` (their erasure): the folder keeps nothing of them."""
        wanted = to.strip().lower()
        for path in self.folder.glob("*.eml"):
            with contextlib.suppress(OSError):
                recipient = message_from_bytes(path.read_bytes()).get("To", "")
                if recipient.strip().lower() == wanted:
                    path.unlink()


Security = Literal["starttls", "ssl", "none"]


class SmtpMailer(Composer):
    """``ports.Mailer`` through an SMTP server, one connection per message (identity sends
    few). A server that is away, refuses the login or the message is ``MailUnavailable``."""

    def __init__(self, host: str, port: int, public_url: str, *, security: Security = "starttls",
                 username: str = "", password: str = "", ca_file: Path | None = None, timeout: float = 10.0,
                 sender: str = DEFAULT_SENDER) -> None:
        super().__init__(public_url, sender)
        self.host = host
        self.port = port
        self.security = security
        self.username = username
        self.password = password
        self.ca_file = ca_file
        self.timeout = timeout

    def _tls(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.ca_file) if self.ca_file else None)

    def _connect(self) -> smtplib.SMTP:
        if self.security == "ssl":
            return smtplib.SMTP_SSL(self.host, self.port, timeout=self.timeout, context=self._tls())
        smtp = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
        try:
            if self.security == "starttls":
                smtp.starttls(context=self._tls())
        except BaseException:
            smtp.close()
            raise
        return smtp

    def deliver(self, msg: EmailMessage) -> None:
        try:
            with self._connect() as smtp:
                if self.username:
                    smtp.login(self.username, self.password)
                smtp.send_message(msg)
        except (smtplib.SMTPException, OSError) as exc:
            # The message's recipient is personal data: the log names the server only.
            log.error("mail to the SMTP server %s:%s failed: %s: %s", self.host, self.port, type(exc).__name__, exc)
            raise MailUnavailable("the mail server cannot take the message now; try again later",
                                  retry_after=30) from exc


def mailer_for(s: IdentitySettings) -> Mailer:
    """The SMTP server when one is configured, else the local mail folder."""
    if s.identity_smtp_host:
        return SmtpMailer(s.identity_smtp_host, s.identity_smtp_port, s.identity_public_url,
                          security=s.identity_smtp_security, username=s.identity_smtp_username,
                          password=s.identity_smtp_password, ca_file=s.identity_smtp_ca_file,
                          timeout=s.identity_smtp_timeout, sender=s.identity_mail_from)
    return MailFolder(s.mail_dir, s.identity_public_url, s.identity_mail_from)
