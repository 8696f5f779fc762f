import datetime as dt
import io
import zipfile
from unittest import mock

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image

from audit.models import Action, AuditEvent
from cpd.evidence import EvidenceRefused, evidence_check
from cpd.models import Domain, Entry, Evidence, Framework, Standard
from cpd.selectors import cpd_progress, cpd_requirement, cpd_year_starting
from cpd.services import CPDError, cpd_entry_create, cpd_entry_delete, cpd_entry_update
from members import services as membership_services
from members.models import Status, StatusEvent
from tests.factories import GradeFactory, MemberFactory

pytestmark = pytest.mark.django_db

TODAY = dt.date(2027, 3, 31)
YEAR = cpd_year_starting(2026)  # 1 April 2026 to 31 March 2027


@pytest.fixture(autouse=True)
def today():
    with mock.patch.object(membership_services, "local_today", return_value=TODAY):
        yield


@pytest.fixture
def frameworks():
    """A small primary framework with a crosswalk to one other family."""
    Framework.objects.update(status=Framework.Status.RETIRED)
    ours = Framework.objects.create(
        key="test-ours",
        name="Ours",
        short_name="Ours",
        version=1,
        status="current",
        is_primary=True,
    )
    hlm = Framework.objects.create(
        key="test-hlm", name="HLM", short_name="HLM", version=1, status="current"
    )
    dims = {
        code: Domain.objects.create(framework=hlm, code=code, title=code, order=i)
        for i, code in enumerate(["H1", "H2"])
    }
    standards = {}
    for d in range(1, 4):
        domain = Domain.objects.create(framework=ours, code=f"D{d}", title=f"Domain {d}", order=d)
        for s in range(1, 3):
            standard = Standard.objects.create(
                framework=ours, domain=domain, code=f"D{d}.{s}", title=f"Standard {d}.{s}", order=s
            )
            standard.counts_towards.add(dims["H1"] if d == 1 else dims["H2"])
            standards[standard.code] = standard
    return standards


@pytest.fixture
def member():
    member = MemberFactory(grade=GradeFactory(cpd_hours_required=30), status=Status.ACTIVE)
    StatusEvent.objects.create(
        member=member, to_status=Status.ACTIVE, effective_date=dt.date(2020, 1, 1), source="payment"
    )
    return member


def png(extra: bytes = b"") -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (4, 4), "white").save(buffer, "PNG")
    return buffer.getvalue() + extra


def docx(*, bomb: bool = False) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as package:
        package.writestr("[Content_Types].xml", "<Types/>")
        package.writestr("word/document.xml", "<w:document/>")
        if bomb:
            package.writestr("word/media/padding.bin", b"\0" * (150 * 1024 * 1024))
    return buffer.getvalue()


PDF = b"%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"


def log(member, frameworks, **overrides):
    fields = {
        "member": member,
        "actor": member.user,
        "title": "Budget setting workshop",
        "starts_on": dt.date(2026, 5, 1),
        "ends_on": dt.date(2026, 5, 1),
        "hours": "3.5",
        "activity_type": "formal",
        "participatory": True,
        "reflection_learned": "How to read a cost centre report.",
        "reflection_applied": "Rebuilt our rota budget.",
        "reflection_impact": "Fewer agency shifts.",
        "standards": [frameworks["D1.1"]],
    }
    return cpd_entry_create(**{**fields, **overrides})


# --- Evidence checks -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "kind"),
    [
        (PDF, "application/pdf"),
        (png(), "image/png"),
        (docx(), "application/vnd.openxmlformats-officedocument.wordprocessingml.document"),
        ("Notes from the session – café £5\n".encode(), "text/plain"),
    ],
)
def test_allowed_files_are_recognised_by_content(data, kind):
    assert evidence_check(data=data).content_type == kind


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (png(b"<html><script>alert(1)</script></html>"), "web page code"),
        (
            b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>',
            "web page code",
        ),
        (b'<?xml version="1.0"?><svg/>', "web page code"),
        (b"MZ\x90\x00\x03" + b"\0" * 200, "Programs cannot be uploaded"),
        (b"\x7fELF\x02\x01\x01" + b"\0" * 200, "Programs cannot be uploaded"),
        (docx(bomb=True), "zip bomb"),
        (b"GIF89a" + b"\0" * 20, "Only PDF, PNG, JPEG"),
        (b"", "empty"),
        (b"%PDF-1.4 truncated", "incomplete or damaged"),
    ],
)
def test_dangerous_or_unknown_files_are_refused(data, reason):
    with pytest.raises(EvidenceRefused, match=reason):
        evidence_check(data=data)


def test_oversized_files_are_refused(settings):
    settings.EVIDENCE_MAX_BYTES = 1024
    with pytest.raises(EvidenceRefused, match="larger than"):
        evidence_check(data=b"a" * 1025)


# --- Entries ----------------------------------------------------------------------------------


def test_an_entry_is_logged_with_its_standards_evidence_and_audit(member, frameworks):
    upload = SimpleUploadedFile("certificate.pdf", PDF, content_type="application/pdf")
    entry = log(member, frameworks, files=[upload])
    assert (entry.minutes, entry.hours, entry.has_reflection) == (210, 3.5, True)
    assert list(entry.standards.values_list("code", flat=True)) == ["D1.1"]
    evidence = entry.evidence.get()
    assert (evidence.original_name, evidence.content_type, evidence.size) == (
        "certificate.pdf",
        "application/pdf",
        len(PDF),
    )
    # A generated name in private storage: nothing the uploader chose.
    assert "certificate" not in evidence.file.name and evidence.file.name.startswith(
        str(member.public_id)
    )
    assert evidence.file.read() == PDF
    event = AuditEvent.objects.get(action=Action.CPD_ENTRY_CREATED)
    assert event.after["standards"] == ["D1.1"] and event.after["evidence"] == ["certificate.pdf"]


def test_a_refused_file_saves_nothing(member, frameworks):
    good = SimpleUploadedFile("notes.txt", b"fine", content_type="text/plain")
    bad = SimpleUploadedFile("photo.png", png(b"<script>x</script>"), content_type="image/png")
    with pytest.raises(CPDError, match=r"^photo.png: The picture contains web page code"):
        log(member, frameworks, files=[good, bad])
    assert not Entry.objects.exists() and not Evidence.objects.exists()
    assert not AuditEvent.objects.filter(action=Action.CPD_ENTRY_CREATED).exists()


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"hours": "1.3"}, "quarter-hour steps"),
        ({"hours": "0"}, "at least a quarter of an hour"),
        ({"hours": "lots"}, "as a number"),
        ({"ends_on": dt.date(2026, 4, 30)}, "end date must be the same as or after"),
        ({"ends_on": TODAY + dt.timedelta(days=1)}, "cannot be in the future"),
        ({"hours": "25"}, "more hours than there are in 1 day"),
    ],
)
def test_bad_entries_are_refused_with_a_reason(member, frameworks, overrides, message):
    with pytest.raises(CPDError, match=message):
        log(member, frameworks, **overrides)
    assert not Entry.objects.exists()


def test_editing_changes_fields_standards_and_evidence_with_an_audit_trail(member, frameworks):
    entry = log(member, frameworks, files=[SimpleUploadedFile("a.txt", b"first")])
    old = entry.evidence.get()
    cpd_entry_update(
        entry=entry,
        actor=member.user,
        title="Budget workshop (day 2)",
        hours="4",
        standards=[frameworks["D2.1"], frameworks["D3.2"]],
        add_files=[SimpleUploadedFile("b.pdf", PDF)],
        remove_evidence=[old],
    )
    entry.refresh_from_db()
    assert (entry.title, entry.minutes) == ("Budget workshop (day 2)", 240)
    assert sorted(entry.standards.values_list("code", flat=True)) == ["D2.1", "D3.2"]
    assert list(entry.evidence.values_list("original_name", flat=True)) == ["b.pdf"]
    event = AuditEvent.objects.get(action=Action.CPD_ENTRY_UPDATED)
    assert event.before["standards"] == ["D1.1"] and event.after["evidence_removed"] == ["a.txt"]


def test_deleting_removes_the_entry_and_its_files(
    member, frameworks, django_capture_on_commit_callbacks
):
    entry = log(member, frameworks, files=[SimpleUploadedFile("a.txt", b"first")])
    storage, name = Evidence.file.field.storage, entry.evidence.get().file.name
    with django_capture_on_commit_callbacks(execute=True):
        cpd_entry_delete(entry=entry, actor=member.user)
    assert not Entry.objects.exists() and not storage.exists(name)
    assert AuditEvent.objects.filter(action=Action.CPD_ENTRY_DELETED).count() == 1


# --- Requirement and progress --------------------------------------------------------------------


def test_a_full_year_member_owes_the_grades_requirement(member):
    events = list(member.status_events.all())
    requirement = cpd_requirement(member=member, year=YEAR, events=events)
    assert (
        requirement.minutes,
        requirement.participatory_minutes,
        requirement.reflections,
        requirement.domains,
    ) == (
        30 * 60,
        15 * 60,
        3,
        3,
    )


def test_requirement_is_pro_rated_for_a_member_who_joined_mid_year():
    member = MemberFactory(grade=GradeFactory(cpd_hours_required=30))
    StatusEvent.objects.create(
        member=member,
        to_status=Status.APPLICANT,
        effective_date=dt.date(2026, 6, 20),
        source="member",
    )
    StatusEvent.objects.create(
        member=member,
        to_status=Status.ACTIVE,
        effective_date=dt.date(2026, 10, 1),
        source="payment",
    )
    requirement = cpd_requirement(
        member=member, year=YEAR, events=list(member.status_events.order_by("effective_date", "id"))
    )
    # 1 October to 31 March is 182 of 365 days: 14.96 hours, rounded up to 15.
    assert requirement.member_days == 182
    assert requirement.minutes == 15 * 60
    assert (requirement.reflections, requirement.domains) == (2, 2)


def test_requirement_leaves_out_time_paused(member):
    StatusEvent.objects.create(
        member=member,
        from_status="active",
        to_status=Status.PAUSED,
        effective_date=dt.date(2026, 7, 1),
        source="member",
    )
    StatusEvent.objects.create(
        member=member,
        from_status="paused",
        to_status=Status.ACTIVE,
        effective_date=dt.date(2027, 1, 1),
        source="member",
    )
    requirement = cpd_requirement(
        member=member, year=YEAR, events=list(member.status_events.order_by("effective_date", "id"))
    )
    assert (requirement.paused_days, requirement.member_days) == (184, 181)
    assert requirement.minutes == 15 * 60  # 30 h x 181/365 = 14.88 h, up to the quarter hour


def test_progress_owes_cpd_by_the_status_history_in_force(member, frameworks):
    """Regression: progress walked status events by effective date, so a payment
    recorded late and dated back (money received before the lapse) left the
    lapse standing, and the member was wrongly let off half a year's CPD."""
    StatusEvent.objects.create(
        member=member,
        from_status="active",
        to_status=Status.LAPSED,
        effective_date=dt.date(2026, 10, 1),
        source="schedule",
    )
    StatusEvent.objects.create(
        member=member,
        from_status="lapsed",
        to_status=Status.ACTIVE,
        effective_date=dt.date(2026, 9, 20),
        source="payment",
    )
    progress = cpd_progress(member=member, year=YEAR, today=TODAY)
    assert progress.requirement.member_days == 365
    assert progress.requirement.minutes == 30 * 60


def test_progress_counts_by_domain_in_each_framework_through_the_crosswalk(member, frameworks):
    log(member, frameworks, hours="2", standards=[frameworks["D1.1"], frameworks["D1.2"]])
    log(
        member,
        frameworks,
        hours="3",
        standards=[frameworks["D2.1"], frameworks["D3.1"]],
        participatory=False,
        reflection_impact="",
    )
    log(
        member,
        frameworks,
        hours="1",
        standards=[],
        starts_on=dt.date(2026, 12, 1),
        ends_on=dt.date(2026, 12, 1),
    )
    log(
        member, frameworks, hours="9", starts_on=dt.date(2025, 4, 1), ends_on=dt.date(2025, 4, 2)
    )  # last year

    progress = cpd_progress(member=member, year=YEAR, today=TODAY)
    assert (progress.minutes, progress.participatory_minutes, progress.reflections) == (360, 180, 2)
    views = {v.framework.key: {d.domain.code: d.minutes for d in v.domains} for v in progress.views}
    # An entry counts in full towards each domain it touches, once per domain.
    assert views["test-ours"] == {"D1": 120, "D2": 180, "D3": 180}
    # Through the crosswalk: D1 -> H1; D2 and D3 -> H2 (the 3-hour entry counts once).
    assert views["test-hlm"] == {"H1": 120, "H2": 180}
    assert progress.domains_touched == 3
    assert [s.code for s in progress.untouched_standards] == ["D2.2", "D3.2"]
    assert progress.met == {
        "hours": False,
        "participatory": False,
        "reflections": False,
        "domains": True,
    }
    # 1 Apr to 30 Apr, then 2 May to 30 Nov, then 2 Dec to 31 Mar: the last two are 3 months or more.
    assert progress.gaps == [
        (dt.date(2026, 5, 2), dt.date(2026, 11, 30)),
        (dt.date(2026, 12, 2), dt.date(2027, 3, 31)),
    ]


def test_progress_takes_the_same_queries_for_5_and_500_entries(
    member, frameworks, django_assert_max_num_queries
):
    def make(n):
        Entry.objects.filter(member=member).delete()
        entries = Entry.objects.bulk_create(
            Entry(
                member=member,
                title=f"E{i}",
                starts_on=dt.date(2026, 6, 1),
                ends_on=dt.date(2026, 6, 1),
                minutes=60,
                activity_type="formal",
                participatory=True,
            )
            for i in range(n)
        )
        through = Entry.standards.through
        through.objects.bulk_create(through(entry=e, standard=frameworks["D1.1"]) for e in entries)

    for n in (5, 500):
        make(n)
        with django_assert_max_num_queries(8):
            progress = cpd_progress(member=member, year=YEAR, today=TODAY)
        assert progress.minutes == n * 60


def test_an_entry_mapped_to_an_old_version_still_counts_and_shows(member, frameworks):
    entry = log(member, frameworks, hours="2", standards=[frameworks["D1.1"]])
    old = Framework.objects.get(key="test-ours")
    old.status = Framework.Status.RETIRED
    old.save()
    new = Framework.objects.create(
        key="test-ours",
        name="Ours",
        short_name="Ours",
        version=2,
        status="current",
        is_primary=True,
    )
    domain = Domain.objects.create(framework=new, code="D1", title="Domain 1 (renamed)", order=1)
    Standard.objects.create(
        framework=new, domain=domain, code="D1.1", title="Standard 1.1 reworded", order=1
    )

    progress = cpd_progress(member=member, year=YEAR, today=TODAY)
    views = {v.framework.key: {d.domain.code: d.minutes for d in v.domains} for v in progress.views}
    assert views["test-ours"] == {"D1": 120}
    assert [(s.code, s.title, s.framework.version) for s in entry.standards.all()] == [
        ("D1.1", "Standard 1.1", 1)
    ]


def test_drafting_and_publishing_a_framework_are_in_the_audit_trail(frameworks):
    from cpd.frameworks import framework_draft_create, framework_publish
    from tests.factories import StaffFactory

    registrar = StaffFactory()
    ours = Framework.objects.get(key="test-ours")
    draft = framework_draft_create(framework=ours, actor=registrar)
    framework_publish(framework=draft, actor=registrar)
    events = list(
        AuditEvent.objects.filter(subject_type="cpd.framework").values_list(
            "action", "subject_id", "actor"
        )
    )
    assert events == [
        (Action.FRAMEWORK_DRAFTED, "test-ours:v2", registrar.pk),
        (Action.FRAMEWORK_PUBLISHED, "test-ours:v2", registrar.pk),
    ]


def test_gaps_count_only_time_owed_not_before_joining_or_while_paused(frameworks):
    member = MemberFactory(grade=GradeFactory(cpd_hours_required=30), status=Status.ACTIVE)
    StatusEvent.objects.create(
        member=member, to_status=Status.ACTIVE, effective_date=dt.date(2026, 7, 1), source="payment"
    )
    StatusEvent.objects.create(
        member=member, to_status=Status.PAUSED, effective_date=dt.date(2026, 8, 1), source="member"
    )
    StatusEvent.objects.create(
        member=member, to_status=Status.ACTIVE, effective_date=dt.date(2027, 1, 1), source="member"
    )
    log(member, frameworks, starts_on=dt.date(2026, 7, 10), ends_on=dt.date(2026, 7, 10))
    progress = cpd_progress(member=member, year=YEAR, today=TODAY)
    # April to June (before joining) and August to December (paused) are not gaps;
    # January to March is 90 days owed with nothing logged.
    assert progress.gaps == [(dt.date(2027, 1, 1), dt.date(2027, 3, 31))]
    assert progress.requirement.owing_spans == [
        (dt.date(2026, 7, 1), dt.date(2026, 7, 31)),
        (dt.date(2027, 1, 1), dt.date(2027, 3, 31)),
    ]


def test_the_cpd_year_admin_pages_load_for_a_registrar(client):
    from django.urls import reverse

    from tests.factories import StaffFactory
    from tests.totp import enable_totp

    registrar = StaffFactory(is_superuser=True)
    enable_totp(registrar)
    client.force_login(registrar)
    for model in ("annualreturn", "auditsample", "auditcase", "sharelink", "goal"):
        response = client.get(reverse(f"admin:cpd_{model}_changelist"))
        assert response.status_code == 200, model
