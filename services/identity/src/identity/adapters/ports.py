"""Identity's ports, built from settings: what ``main.py`` hands its application."""

from __future__ import annotations

from typing import Any

from identity.adapters import access_log, background, documents, email_lookup, mail, signing_keys
from identity.adapters.passwords import hasher_for
from identity.adapters.throttle import PgThrottle, limits_from
from identity.settings import IdentitySettings
from servicekit.blobstore import LocalBlobStore
from servicekit.idempotency import forget_caller
from servicekit.service import Assembly
from servicekit.vault import PersonalDataVault


def ports(svc: Assembly[IdentitySettings]) -> dict[str, Any]:
    s, db, vault = svc.settings, svc.db, PersonalDataVault(svc.db)
    docs = documents.DocumentStore(db, vault, LocalBlobStore(s.upload_dir), s.identity_upload_max_bytes)
    svc.on_shutdown(docs.close)
    return {
        "vault": vault,  # private: emails, notes, documents; never leaves identity
        "shared": svc.shares_personal_data(),  # names, headlines: their keys travel on identity.keys
        "lookup_key": email_lookup.email_lookup_key(s.identity_secret),
        "tokens": signing_keys.SigningKeyStore(db, s.identity_secret, s.identity_access_token_ttl, s.jwt_issuer,
                                               s.jwt_audience),
        "mailer": mail.mailer_for(s), "documents": docs, "background": background.provider_for(s),
        "throttle": PgThrottle(db), "access_log": access_log.DocumentAccessLog(db, s.identity_secret),
        "limits": limits_from(s), "reset_ttl": s.identity_password_reset_ttl, "hasher": hasher_for(s),
        "forget_requests": lambda user_id: forget_caller(db, user_id),
    }
