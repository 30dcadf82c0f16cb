"""A provider's reports reach the user's background check once, in order; an application's
documents open for the applicant and staff only, each opening logged."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest
from fakes import PASSWORD, EventLog, FakeAccessLog, FakeClock, FakeDocuments

from identity.application import IdentityApplication
from identity.domain.commands import Registration, TutorApplicationForm
from identity.domain.errors import Forbidden, NotFound
from identity.domain.ports import CheckStarted, ProviderReport
from identity.domain.user import User

T0 = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)


@dataclass
class ScriptedProvider:
    """A provider that hands out references and reads reports from a dict (the real
    adapters are tested against a provider's API: tests/test_background_checks.py)."""

    name: str = "scripted"
    started: list[tuple[uuid.UUID, str]] = field(default_factory=list)
    reports: dict[bytes, ProviderReport | None] = field(default_factory=dict)

    def start(self, user_id: uuid.UUID, email: str, display_name: str) -> CheckStarted:
        self.started.append((user_id, email))
        return CheckStarted("pending", reference=f"cand-{len(self.started)}")

    def read_webhook(self, body: bytes, headers: Mapping[str, str]) -> ProviderReport | None:
        return self.reports[body]


@pytest.fixture
def provider() -> ScriptedProvider:
    return ScriptedProvider()


@pytest.fixture
def app(make_app: Callable[..., IdentityApplication], provider: ScriptedProvider) -> IdentityApplication:
    return make_app(background=provider)


def report(provider: ScriptedProvider, event_id: str, reference: str, status: str, minutes: int) -> bytes:
    body = f"{event_id}:{reference}:{status}".encode()
    provider.reports[body] = ProviderReport(event_id, reference, status, T0 + timedelta(minutes=minutes))
    return body


def test_a_started_check_is_pending_and_its_reports_update_the_user_once(
    app: IdentityApplication, provider: ScriptedProvider, log: EventLog
) -> None:
    uid = app.register(Registration("ada@uni.example", PASSWORD, "Ada"))
    started = app.start_background_check(uid)
    assert (started.status, started.reference) == ("pending", "cand-1")
    assert provider.started == [(uid, "ada@uni.example")]  # the provider asks the person for the rest
    before = log.position()
    done = report(provider, "evt-2", "cand-1", "clear", 10)
    assert app.receive_background_check_report("scripted", done, {}) == "applied"
    assert app.receive_background_check_report("scripted", done, {}) == "duplicate"  # a replayed webhook
    assert [(e.status, e.provider) for e in log.of_type(User.BackgroundCheckUpdated, before)] == [
        ("clear", "scripted")]
    # An older report arriving late is kept, but does not overwrite the newer one.
    late = report(provider, "evt-1", "cand-1", "pending", 5)
    assert app.receive_background_check_report("scripted", late, {}) == "superseded"
    assert app.get_user(uid).background_check == "clear"
    assert app.receive_background_check_report("scripted", late, {}) == "duplicate"


def test_reports_on_unknown_checks_or_providers_are_refused(app: IdentityApplication,
                                                            provider: ScriptedProvider) -> None:
    stray = report(provider, "evt-9", "cand-unknown", "clear", 1)
    with pytest.raises(NotFound) as unknown:
        app.receive_background_check_report("scripted", stray, {})
    assert unknown.value.field == "data.object.candidate_id"
    with pytest.raises(NotFound):
        app.receive_background_check_report("checkr", stray, {})  # not the configured provider
    provider.reports[b"candidate.created"] = None
    assert app.receive_background_check_report("scripted", b"candidate.created", {}) == "ignored"


def test_a_report_on_an_erased_user_changes_nothing_and_is_not_refused(app: IdentityApplication,
                                                                        provider: ScriptedProvider) -> None:
    uid = app.register(Registration("ada@uni.example", PASSWORD, "Ada"))
    app.start_background_check(uid)
    app.erase(uid, by=uid)
    assert app.receive_background_check_report("scripted", report(provider, "e", "cand-1", "clear", 1), {}) \
        == "applied"  # the provider stops retrying; the erased account keeps no new status
    assert app.get_user(uid).background_check == "pending"


# -- documents --------------------------------------------------------------------------

@pytest.fixture
def applicant(app: IdentityApplication) -> uuid.UUID:
    return app.register(Registration("applicant@uni.example", PASSWORD, "Applicant"))


def test_documents_open_for_the_applicant_and_staff_and_every_opening_is_logged(
    app: IdentityApplication, applicant: uuid.UUID, staff: uuid.UUID, documents: FakeDocuments,
    access_log: FakeAccessLog, clock: FakeClock
) -> None:
    doc = app.upload_document(applicant, "transcript.pdf", "application/pdf", b"%PDF-1.4")
    other = app.upload_document(applicant, "not-attached.pdf", "application/pdf", b"%PDF-1.4 other")
    aid = app.submit_tutor_application(applicant, TutorApplicationForm(["Physics"], ["advanced"],
                                                                       document_ids=[doc.document_id]))
    opened = app.open_application_document(aid, doc.document_id, reader=staff, reader_is_staff=True)
    assert b"".join(opened.chunks) == f"bytes of {doc.document_id}".encode()
    assert opened.document.filename == "transcript.pdf"
    clock.advance(minutes=1)
    app.open_application_document(aid, doc.document_id, reader=applicant, reader_is_staff=False)
    assert [(e.actor_id, e.actor_role, e.document_id, e.accessed_at) for e in access_log.entries] == [
        (staff, "staff", doc.document_id, clock.now - timedelta(minutes=1)),
        (applicant, "applicant", doc.document_id, clock.now)]
    assert app.document_access(aid, applicant, False) == access_log.entries

    stranger = app.register(Registration("stranger@uni.example", PASSWORD, "Stranger"))
    with pytest.raises(Forbidden):
        app.open_application_document(aid, doc.document_id, reader=stranger, reader_is_staff=False)
    with pytest.raises(Forbidden):
        app.document_access(aid, stranger, False)
    with pytest.raises(NotFound):  # the applicant's, but not part of this application
        app.open_application_document(aid, other.document_id, reader=staff, reader_is_staff=True)
    with pytest.raises(NotFound):
        app.open_application_document(uuid.uuid4(), doc.document_id, reader=staff, reader_is_staff=True)
    assert len(access_log.entries) == 2  # refusals opened nothing

    app.erase(applicant, by=applicant)  # the documents go; the log of who saw them stays
    with pytest.raises(NotFound):
        app.open_application_document(aid, doc.document_id, reader=staff, reader_is_staff=True)
    assert len(app.document_access(aid, staff, True)) == 2
