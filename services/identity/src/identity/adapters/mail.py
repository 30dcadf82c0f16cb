"""Outgoing mail. With no SMTP configured (the default) messages are written as ``.eml``
files to a local folder, where a developer — or the README's walk-through — reads them."""

from __future__ import annotations

import time
import uuid
from email.message import EmailMessage
from pathlib import Path


class MailFolder:
    """``ports.Mailer``. ``public_url`` is identity's address as users reach it."""

    def __init__(self, folder: Path, public_url: str, sender: str = "Alpha Peer <no-reply@alphapeer.local>") -> None:
        self.folder = folder
        self.public_url = public_url.rstrip("/")
        self.sender = sender
        folder.mkdir(parents=True, exist_ok=True)

    def send_verification(self, to: str, display_name: str, token: str) -> None:
        self.send(
            to,
            "Confirm your Alpha Peer email",
            f"Hello {display_name},\n\nConfirm your address with this token:\n\ntoken={token}\n\n"
            f"(POST it to {self.public_url}/v1/auth/verify-email). It expires in 48 hours.\n",
        )

    def send(self, to: str, subject: str, body: str) -> Path:
        msg = EmailMessage()
        msg["From"] = self.sender
        msg["To"] = to
        msg["Subject"] = subject
        msg["Message-ID"] = f"<{uuid.uuid4()}@alphapeer.local>"
        msg.set_content(body, cte="8bit")  # readable as-is: no quoted-printable soft breaks
        path = self.folder / f"{time.time_ns()}-{uuid.uuid4().hex[:6]}.eml"
        tmp = path.with_suffix(".part")
        tmp.write_bytes(bytes(msg))
        tmp.replace(path)
        return path
