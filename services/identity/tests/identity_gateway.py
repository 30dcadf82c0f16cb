"""What the gateway tests beside this file share: ``Identity``, a TestClient on an identity
gateway in-process on PostgreSQL with the steps most tests take (the ``identity`` fixture in
``conftest.py`` builds them), and a few constants."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from fastapi.testclient import TestClient

from identity.application import IdentityApplication

ADMIN = ("admin@alphapeer.test", "admin-password-123")
PASSWORD = "a-long-password-1"
PDF = b"%PDF-1.4\n% transcript\n%%EOF\n"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@dataclass
class Identity:
    """A TestClient on an identity gateway, with the steps most tests take."""

    http: TestClient
    mail_dir: Path

    @property
    def app(self) -> IdentityApplication:
        identity: IdentityApplication = self.http.app.state.identity  # type: ignore[attr-defined]
        return identity

    def register(self, email: str, name: str = "Someone", password: str = PASSWORD) -> str:
        r = self.http.post("/v1/auth/register", json={"email": email, "password": password, "display_name": name})
        assert r.status_code == 201, r.text
        return str(r.json()["user_id"])

    def login(self, email: str, password: str = PASSWORD, **headers: str) -> str:
        r = self.http.post("/v1/auth/login", json={"email": email, "password": password}, headers=headers)
        assert r.status_code == 200, r.text
        return str(r.json()["access_token"])

    def admin(self) -> dict[str, str]:
        return bearer(self.login(*ADMIN))

    def mailed_token(self, email: str, subject_word: str = "") -> str:
        """The token in the newest mail to ``email`` (whose subject has ``subject_word``)."""
        for path in sorted(self.mail_dir.glob("*.eml"), reverse=True):
            text = path.read_text()
            if f"To: {email}" in text and subject_word in text:
                return next(line.split("=", 1)[1] for line in text.splitlines() if line.startswith("token="))
        raise AssertionError(f"no mail to {email}")
