"""What the OpenAPI document declares is what the gateway does (tests/api fuzzes that with
schemathesis); these pin the deliberate parts of that contract: text is taken as sent (white
space around it refused, not trimmed), a change names a field, and the rules the schema cannot
say (a past date, a document one uploaded, the bytes of a file) answer naming the field."""

from __future__ import annotations

from collections.abc import Callable

from identity_gateway import PDF, Identity, bearer

PASSWORD = "a-long-password-1"


def field_of(r: object) -> str:
    return str(r.json()["errors"][0]["field"])  # type: ignore[attr-defined]


def test_registration_takes_the_address_and_name_as_sent(identity: Callable[..., Identity]) -> None:
    idp = identity()
    post = idp.http.post
    body = {"email": "ada@uni.example", "password": PASSWORD, "display_name": "Ada L."}
    for change, field in (({"email": " ada@uni.example"}, "email"), ({"email": "ada@uni.example\n"}, "email"),
                          ({"email": "a" * 65 + "@uni.example"}, "email"),
                          ({"display_name": "Ada  L."}, "display_name"), ({"display_name": " Ada"}, "display_name"),
                          ({"languages": ["en\n"]}, "languages.0"), ({"time_zone": "Mars/Olympus_Mons"}, "time_zone"),
                          ({"referral": {"channel": "poster "}}, "referral.channel")):
        r = post("/v1/auth/register", json={**body, **change})
        assert r.status_code == 422 and field_of(r) == field, (change, r.text)
    bad_zone = post("/v1/auth/register", json={**body, "time_zone": "Mars/Olympus_Mons"})
    assert len(bad_zone.json()["errors"][0]["reason"]) < 80  # the reason, not the list of every zone
    r = post("/v1/auth/register", json={**body, "email": "Ada@Uni.Example", "time_zone": "Europe/London"})
    assert r.status_code == 201, r.text
    me = idp.http.get("/v1/users/me", headers=bearer(idp.login(" ada@uni.example ")))  # sign-in forgives spaces
    assert me.json()["email"] == "ada@uni.example" and me.json()["time_zone"] == "Europe/London"
    # The rule the schema cannot say: the referrer must be a user.
    r = post("/v1/auth/register", json={**body, "email": "bob@uni.example",
                                        "referral": {"referrer_user_id": "3f0c5a52-9d2e-4b6e-8a43-5b6f0e1d2c11"}})
    assert r.status_code == 422 and field_of(r) == "referral.referrer_user_id"


def test_a_profile_change_names_a_field_and_clears_with_null_or_empty(identity: Callable[..., Identity]) -> None:
    idp = identity()
    uid = idp.register("ada@uni.example", "Ada")
    t = bearer(idp.login("ada@uni.example"))
    profile, private = f"/v1/users/{uid}/profile", f"/v1/users/{uid}/private-profile"
    for path in (profile, private):
        r = idp.http.patch(path, headers=t, json={})
        assert r.status_code == 422 and field_of(r) == "body"
    assert idp.http.patch(profile, headers=t, json={"display_name": None}).status_code == 422  # required: not null
    r = idp.http.patch(profile, headers=t, json={"headline": "Maths tutor", "avatar_url": "https://cdn.example/a.png"})
    assert r.status_code == 200 and r.json()["headline"] == "Maths tutor"
    r = idp.http.patch(profile, headers=t, json={"headline": "", "avatar_url": None})
    assert r.status_code == 200 and (r.json()["headline"], r.json()["avatar_url"]) == (None, None)
    r = idp.http.patch(profile, headers=t, json={"avatar_url": "https://user@cdn.example/a.png"})
    assert r.status_code == 422 and field_of(r) == "avatar_url"
    for dob in ("2004-02-30", "1899-12-31", "2004-2-3"):
        r = idp.http.patch(private, headers=t, json={"date_of_birth": dob})
        assert r.status_code == 422 and field_of(r) == "date_of_birth", dob
    r = idp.http.patch(private, headers=t, json={"date_of_birth": "2999-01-01"})  # beyond the schema: not future
    assert r.status_code == 422 and field_of(r) == "date_of_birth"
    r = idp.http.patch(private, headers=t, json={"date_of_birth": "2004-02-29", "phone": "+44 20 7946 0000"})
    assert r.status_code == 200 and r.json()["private_profile"]["date_of_birth"] == "2004-02-29"
    r = idp.http.patch(private, headers=t, json={"date_of_birth": "", "phone": None})
    assert r.status_code == 200 and r.json()["private_profile"]["date_of_birth"] is None


def test_uploads_and_applications_refuse_what_the_schema_cannot_see(identity: Callable[..., Identity]) -> None:
    idp = identity()
    idp.register("ada@uni.example", "Ada")
    t = bearer(idp.login("ada@uni.example"))
    empty = idp.http.post("/v1/users/me/documents", headers=t, files={"file": ("a.pdf", b"", "application/pdf")})
    assert empty.status_code == 422 and field_of(empty) == "file"  # declared: minLength 1
    text = idp.http.post("/v1/users/me/documents", headers=t, files={"file": ("a.pdf", b"hello", "application/pdf")})
    assert text.status_code == 415 and field_of(text) == "file"  # the bytes are not a PDF
    doc = idp.http.post("/v1/users/me/documents", headers=t, files={"file": ("a.pdf", PDF, "application/pdf")})
    assert doc.status_code == 201, doc.text
    doc_id = doc.json()["document_id"]
    form = {"subjects": ["Physics"], "levels": ["advanced"]}
    for change, field in (({"subjects": [" Physics"]}, "subjects.0"),
                          ({"document_ids": [doc_id, doc_id]}, "document_ids"),
                          ({"document_ids": [doc_id, doc_id.upper()]}, "document_ids"),  # the same one, in capitals
                          ({"document_ids": ["3f0c5a52-9d2e-4b6e-8a43-5b6f0e1d2c11"]}, "document_ids.0")):
        r = idp.http.post("/v1/tutor-applications", headers=t, json={**form, **change})
        assert r.status_code == 422 and field_of(r).startswith(field), (change, r.text)
    r = idp.http.post("/v1/tutor-applications", headers=t, json={**form, "document_ids": [doc_id]})
    assert r.status_code == 201 and r.json()["documents"][0]["document_id"] == doc_id
    r = idp.http.get("/v1/tutor-applications?cursor=bm90LWEtY3Vyc29y", headers=idp.admin())
    assert r.status_code == 422 and field_of(r) == "cursor"
