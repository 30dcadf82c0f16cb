"""Staff (and the applicant) open an application's uploaded documents through the gateway on
PostgreSQL: served as stored, never sniffed into something else; every opening recorded in
an access log that refuses changes and shows any tampering."""

from __future__ import annotations

import uuid
from collections.abc import Callable

import psycopg
import pytest
from identity_gateway import PDF, Identity, bearer


@pytest.fixture
def setup(identity: Callable[..., Identity]) -> tuple[Identity, dict[str, str]]:
    idp = identity()
    ids = {"ada": idp.register("ada@uni.example", "Ada"), "bob": idp.register("bob@uni.example", "Bob")}
    ada = bearer(idp.login("ada@uni.example"))
    up = idp.http.post("/v1/users/me/documents", headers=ada,
                       files={"file": ("Zeugnis München.pdf", PDF, "application/pdf")})
    assert up.status_code == 201, up.text
    r = idp.http.post("/v1/tutor-applications", headers=ada, json={
        "subjects": ["Physics"], "levels": ["advanced"], "document_ids": [up.json()["document_id"]]})
    assert r.status_code == 201, r.text
    ids.update(doc=up.json()["document_id"], app=r.json()["application_id"])
    return idp, ids


def test_staff_and_the_applicant_open_a_document_as_stored_and_each_opening_is_logged(
    setup: tuple[Identity, dict[str, str]]
) -> None:
    idp, ids = setup
    admin, ada = idp.admin(), bearer(idp.login("ada@uni.example"))
    url = f"/v1/tutor-applications/{ids['app']}/documents/{ids['doc']}"
    r = idp.http.get(url, headers=admin)
    assert r.status_code == 200 and r.content == PDF
    assert r.headers["content-type"] == "application/pdf"
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["content-disposition"].startswith('attachment; filename="Zeugnis M_nchen.pdf"')
    assert "filename*=UTF-8''Zeugnis%20M%C3%BCnchen.pdf" in r.headers["content-disposition"]
    assert r.headers["cache-control"] == "private, no-store" and "sandbox" in r.headers["content-security-policy"]
    assert idp.http.get(url, headers=ada).content == PDF

    log = idp.http.get(f"/v1/tutor-applications/{ids['app']}/document-access", headers=admin)
    assert log.status_code == 200, log.text
    admin_id = idp.http.get("/v1/users/me", headers=admin).json()["user_id"]
    items = log.json()["items"]
    assert [(i["actor_id"], i["actor_role"], i["document_id"]) for i in items] == [
        (admin_id, "staff", ids["doc"]), (ids["ada"], "applicant", ids["doc"])]
    assert items[1]["previous_hash"] == items[0]["hash"] and log.json()["next_after"] is None
    # The applicant sees who looked at their documents too; one at a time, by page.
    page = idp.http.get(f"/v1/tutor-applications/{ids['app']}/document-access?limit=1", headers=ada).json()
    assert [i["seq"] for i in page["items"]] == [items[0]["seq"]] and page["next_after"] == items[0]["seq"]
    check = idp.http.get("/v1/admin/document-access/verification", headers=admin).json()
    assert check == {"entries": 2, "intact": True, "first_bad_seq": None, "head_hash": items[1]["hash"]}


def test_others_are_refused_and_refusals_open_nothing(setup: tuple[Identity, dict[str, str]]) -> None:
    idp, ids = setup
    bob, admin = bearer(idp.login("bob@uni.example")), idp.admin()
    url = f"/v1/tutor-applications/{ids['app']}/documents/{ids['doc']}"
    assert idp.http.get(url).status_code == 401
    refused = idp.http.get(url, headers=bob)
    assert refused.status_code == 403 and refused.headers["content-type"].startswith("application/problem+json")
    assert idp.http.get(f"/v1/tutor-applications/{ids['app']}/document-access", headers=bob).status_code == 403
    assert idp.http.get("/v1/admin/document-access/verification", headers=bob).status_code == 403
    missing = idp.http.get(f"/v1/tutor-applications/{ids['app']}/documents/{uuid.uuid4()}", headers=admin)
    assert missing.status_code == 404
    assert idp.http.get(f"/v1/tutor-applications/{uuid.uuid4()}/documents/{ids['doc']}",
                        headers=admin).status_code == 404
    bad = idp.http.get(f"/v1/tutor-applications/{ids['app']}/documents/not-a-uuid", headers=admin)
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "path.document_id"
    assert idp.http.get(f"/v1/tutor-applications/{ids['app']}/document-access",
                        headers=admin).json()["items"] == []


def test_the_access_log_refuses_changes_and_shows_tampering(setup: tuple[Identity, dict[str, str]],
                                                            postgres_url: str, pg_schema: str) -> None:
    idp, ids = setup
    admin = idp.admin()
    for _ in range(3):
        idp.http.get(f"/v1/tutor-applications/{ids['app']}/documents/{ids['doc']}", headers=admin)
    with psycopg.connect(postgres_url, autocommit=True, options=f"-c search_path={pg_schema}") as conn:
        for statement in ("UPDATE document_access_log SET actor_role = 'applicant' WHERE seq = 2",
                          "DELETE FROM document_access_log WHERE seq = 2",
                          "TRUNCATE document_access_log"):
            with pytest.raises(psycopg.errors.RaiseException, match="append-only"):
                conn.execute(statement)
        # Someone with the owner's rights turns the guard off and rewrites history.
        conn.execute("ALTER TABLE document_access_log DISABLE TRIGGER document_access_log_no_change")
        conn.execute("UPDATE document_access_log SET actor_id = %s WHERE seq = 2", (str(uuid.uuid4()),))
        conn.execute("ALTER TABLE document_access_log ENABLE TRIGGER document_access_log_no_change")
    check = idp.http.get("/v1/admin/document-access/verification", headers=admin).json()
    assert check["intact"] is False and check["first_bad_seq"] == 2 and check["entries"] == 1
