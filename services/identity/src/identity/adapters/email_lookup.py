"""The keyed hash an email is found by (``IdentityApplication.lookup_key``): HMAC-SHA256
of the normalised address under a key derived from the service secret, so the event store
(where it names the EmailIndex) never holds an address, and without the secret nobody can
test whether an address is registered."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable


def email_lookup_key(secret: str) -> Callable[[str], str]:
    key = hashlib.sha256(b"alphapeer-email-lookup:" + secret.encode()).digest()

    def lookup(email: str) -> str:
        return hmac.new(key, email.strip().lower().encode(), hashlib.sha256).hexdigest()

    return lookup
