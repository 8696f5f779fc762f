"""The registrar's pages: access, members, staff actions, invoices, exports, grade reviews."""

import csv
import datetime as dt
import io
import re
import uuid
from unittest import mock

import pytest
from django.core import mail
from django.urls import URLPattern, reverse
from django.utils import timezone

from audit.models import Action, AuditEvent
from members import services, staff_urls
from members.models import (
    Grade,
    Invoice,
    Member,
    Organisation,
    Payment,
    Status,
    StatusEvent,
)
from tests.factories import GradeFactory, MemberFactory, StaffFactory, UserFactory
from tests.totp import enable_totp

pytestmark = pytest.mark.django_db


# --- Fixtures and helpers -----------------------------------------------------------


@pytest.fixture
def registrar():
    user = StaffFactory(given_name="Rachel", family_name="Okafor")
    enable_totp(user)  # staff without a second factor are held at MFA set-up
    return user


@pytest.fixture
def staff_client(client, registrar):
    client.force_login(registrar)
    return client


def today() -> dt.date:
    return timezone.localdate()


def date_fields(name: str, day: dt.date | None) -> dict:
    if day is None:
        return {f"{name}_day": "", f"{name}_month": "", f"{name}_year": ""}
    return {
        f"{name}_day": str(day.day),
        f"{name}_month": str(day.month),
        f"{name}_year": str(day.year),
    }


def applicant_with_invoice(**member_fields) -> tuple[Member, Invoice]:
    member = MemberFactory(**member_fields)
    invoice = services.invoice_raise(
        member=member, payer_organisation="Northshire NHS Foundation Trust", purchase_order="PO-1"
    )
    return member, invoice


def active_member(registrar, **member_fields) -> Member:
    member, invoice = applicant_with_invoice(**member_fields)
    services.invoice_record_payment(
        invoice=invoice, received_on=today(), reference="BACS 1", actor=registrar
    )
    member.refresh_from_db()
    return member


def suspended_member(registrar) -> Member:
    member = active_member(registrar)
    services.member_suspend(
        member=member, actor=registrar, reason="Under investigation", starts_on=today()
    )
    member.refresh_from_db()
    return member


def detail_url(member: Member) -> str:
    return reverse("registrar:member_detail", kwargs={"public_id": member.public_id})


def csv_rows(response) -> list[list[str]]:
    body = b"".join(response.streaming_content).decode("utf-8-sig")
    return list(csv.reader(io.StringIO(body)))


# --- Access ---------------------------------------------------------------------------


def registrar_urls() -> list[str]:
    urls = []
    for pattern in staff_urls.urlpatterns:
        assert isinstance(pattern, URLPattern)
        kwargs = {"public_id": uuid.uuid4()} if "public_id" in pattern.pattern.converters else {}
        urls.append(reverse(f"registrar:{pattern.name}", kwargs=kwargs))
    return urls


def test_every_registrar_view_is_wrapped_in_staff_required():
    unwrapped = [
        p.name for p in staff_urls.urlpatterns if not getattr(p.callback, "staff_required", False)
    ]
    assert unwrapped == []


@pytest.mark.parametrize("url", registrar_urls())
def test_anonymous_visitors_are_sent_to_sign_in(client, url):
    response = client.get(url)
    assert response.status_code == 302
    assert response["Location"] == f"{reverse('account_login')}?next={url}"


@pytest.mark.parametrize("url", registrar_urls())
def test_signed_in_members_get_not_found(client, url):
    member = MemberFactory()
    client.force_login(member.user)
    assert client.get(url).status_code == 404
    assert client.post(url, {"reason": "x"}).status_code == 404


def test_staff_without_a_second_factor_are_held_at_mfa_set_up(client):
    client.force_login(StaffFactory())
    response = client.get(reverse("registrar:home"))
    assert response.status_code == 302
    assert response["Location"] == reverse("mfa_required")


def test_header_shows_registrar_link_to_staff_only(client, staff_client):
    page = staff_client.get(reverse("registrar:member_list")).content.decode()
    assert f'href="{reverse("registrar:home")}" aria-current="true">Registrar</a>' in page

    client.logout()
    client.force_login(UserFactory())
    assert ">Registrar</a>" not in client.get(reverse("dashboard")).content.decode()


# --- Home -----------------------------------------------------------------------------


def test_home_counts_members_by_status_open_invoices_and_pending_reviews(staff_client, registrar):
    active_member(registrar)
    active_member(registrar)
    applicant_with_invoice()
    fellow = GradeFactory(requires_review=True)
    services.member_join(
        user=UserFactory(),
        grade=fellow,
        job_title="Director",
        management_level="executive",
        organisation_other="Eastmoor Community Health NHS Trust",
        register_consent=True,
        agreed_code_of_conduct=True,
        statement="Twenty years leading services.",
    )

    page = staff_client.get(reverse("registrar:home")).content.decode()

    assert 'id="count-members">4<' in page
    assert 'id="count-active">2<' in page
    assert 'id="count-applicant">2<' in page
    assert 'id="count-suspended">0<' in page
    assert 'id="count-open-invoices">1<' in page
    assert 'id="count-pending-reviews">1<' in page


# --- Members list ---------------------------------------------------------------------


def test_search_by_name_email_or_membership_number(staff_client, registrar):
    ada = active_member(registrar, user__given_name="Ada", user__family_name="Lovelace")
    grace = active_member(
        registrar,
        user__given_name="Grace",
        user__family_name="Hopper",
        user__email="g.hopper@southshire.example",
    )
    url = reverse("registrar:member_list")

    def names(query: dict) -> list[str]:
        page = staff_client.get(url, query).content.decode()
        return [m for m in ("Ada Lovelace", "Grace Hopper") if m in page]

    assert names({"q": "lovelace"}) == ["Ada Lovelace"]
    assert names({"q": "ada LOVELACE"}) == ["Ada Lovelace"]
    assert names({"q": "southshire.example"}) == ["Grace Hopper"]
    assert names({"q": grace.membership_number}) == ["Grace Hopper"]
    assert names({"q": ada.membership_number}) == ["Ada Lovelace"]
    assert names({"q": "nobody"}) == []
    assert "No members match your search" in staff_client.get(url, {"q": "nobody"}).content.decode()


def test_filter_by_status_and_grade(staff_client, registrar):
    associate = GradeFactory(name="Associate grade", slug="grade-associate-test")
    active_member(registrar, user__given_name="Active", user__family_name="Person")
    suspended = suspended_member(registrar)
    suspended.user.given_name, suspended.user.family_name = "Suspended", "Person"
    suspended.user.save()
    MemberFactory(user__given_name="Applicant", user__family_name="Person", grade=associate)
    url = reverse("registrar:member_list")

    page = staff_client.get(url, {"status": "suspended"}).content.decode()
    assert "Suspended Person" in page and "Active Person" not in page

    page = staff_client.get(url, {"grade": associate.slug}).content.decode()
    assert "Applicant Person" in page and "Active Person" not in page
    assert "Showing 1 to 1 of 1 member" in page

    page = staff_client.get(url, {"status": "active", "grade": associate.slug}).content.decode()
    assert "No members match your search" in page


def test_members_are_paginated_with_nhs_pagination(staff_client):
    grade = GradeFactory()
    for n in range(26):
        MemberFactory(grade=grade, user__family_name=f"Family{n:02d}")
    url = reverse("registrar:member_list")

    first = staff_client.get(url).content.decode()
    assert "Showing 1 to 25 of 26 members" in first
    assert "Family24" in first and "Family25" not in first
    assert 'class="nhsuk-pagination nhsuk-pagination--numbered"' in first
    assert 'aria-label="Page 1" aria-current="page"' in first
    assert 'href="?page=2" class="nhsuk-pagination__next" rel="next"' in first

    second = staff_client.get(url, {"page": 2}).content.decode()
    assert "Family25" in second and "Family24" not in second
    assert 'href="?page=1" class="nhsuk-pagination__previous" rel="prev"' in second


def test_pagination_keeps_the_search(staff_client):
    grade = GradeFactory()
    for _ in range(26):
        MemberFactory(grade=grade)
    page = staff_client.get(
        reverse("registrar:member_list"), {"grade": grade.slug, "status": "applicant"}
    ).content.decode()
    assert "?grade=grade-" in page and "&amp;status=applicant&amp;page=2" in page


# Queries for a registrar's page, whatever the data: session, user and MFA check (3),
# then the page's own.
MEMBER_LIST_QUERIES = 3 + 3  # grades for the filter, count, one page of members


@pytest.mark.parametrize("members", [3, 30])
def test_member_list_query_count_does_not_grow(staff_client, django_assert_num_queries, members):
    organisation = Organisation.objects.first()
    for n in range(members):
        MemberFactory(organisation=organisation if n % 2 else None)
    with django_assert_num_queries(MEMBER_LIST_QUERIES):
        response = staff_client.get(reverse("registrar:member_list"), {"status": "applicant"})
    assert response.content.decode().count('class="nhsuk-table__row"') == min(members, 25) + 1


# --- Member detail --------------------------------------------------------------------


def test_member_detail_shows_profile_money_and_history(staff_client, registrar):
    member = active_member(
        registrar,
        user__given_name="Ada",
        user__family_name="Lovelace",
        job_title="Head of operations",
        organisation=Organisation.objects.get(name="Northshire NHS Foundation Trust"),
    )
    page = staff_client.get(detail_url(member)).content.decode()

    assert "Ada Lovelace" in page
    assert f"Membership number {member.membership_number}" in page
    assert '<strong class="nhsuk-tag nhsuk-tag--green">Active</strong>' in page
    assert member.grade.name in page
    assert "Head of operations" in page and "Northshire NHS Foundation Trust" in page
    period = member.periods.get()
    assert period.ends_on.strftime("%-d %B %Y") in page  # paid until
    invoice = member.invoices.get()
    payment = member.payments.get()
    assert invoice.number in page and payment.receipt_number in page and "BACS 1" in page
    assert "Applicant to Active" in page and "Payment received" in page
    # The audit history, from the hash-chained log.
    history = page.split('id="audit-history"')[1]
    for label in ("Invoice raised", "Invoice paid", "Membership period started", "Status changed"):
        assert label in history
    assert registrar.email in history
    # In the same words as the member's own history page, not raw field names.
    assert "Amount: £120.00" in history and "Status: Applicant to Active" in history
    assert "amount_pence" not in history


def test_member_detail_offers_only_the_actions_valid_now(staff_client, registrar):
    def offered(member) -> list[str]:
        page = staff_client.get(detail_url(member)).content.decode()
        actions = page.split('id="member-actions"')[1].split("</ul>")[0]
        return [
            title
            for title in (
                "Suspend membership",
                "Lift the suspension",
                "Remove from the register",
                "Record a death",
                "Reinstate",
            )
            if title in actions
        ]

    member = active_member(registrar)
    assert offered(member) == ["Suspend membership", "Remove from the register", "Record a death"]

    services.member_suspend(member=member, actor=registrar, reason="Check", starts_on=today())
    assert offered(member) == ["Lift the suspension", "Remove from the register", "Record a death"]

    services.member_remove(member=member, actor=registrar, reason="Misconduct")
    assert offered(member) == ["Record a death", "Reinstate"]


def test_an_action_not_valid_now_sends_the_registrar_back_with_a_message(staff_client, registrar):
    member = active_member(registrar)
    response = staff_client.get(
        reverse("registrar:member_lift_suspension", kwargs={"public_id": member.public_id}),
        follow=True,
    )
    assert response.redirect_chain[-1][0] == detail_url(member)
    assert "Lift the suspension is not available: the member is active." in (
        response.content.decode()
    )


MEMBER_DETAIL_QUERIES = 3 + 7  # member, periods, invoices, payments, events, grades, audit


@pytest.mark.parametrize("renewals", [0, 3])
def test_member_detail_query_count_does_not_grow(
    staff_client, registrar, django_assert_num_queries, renewals
):
    member = active_member(registrar)
    for n in range(renewals):
        invoice = services.invoice_raise(member=member, payer_organisation=f"Trust {n}")
        services.invoice_record_payment(
            invoice=invoice, received_on=today(), reference=f"R{n}", actor=registrar
        )
    with django_assert_num_queries(MEMBER_DETAIL_QUERIES):
        page = staff_client.get(detail_url(member)).content.decode()
    assert page.count("BACS 1") + sum(page.count(f"R{n}<") for n in range(renewals)) >= 1
    assert member.payments.count() == renewals + 1


# --- Staff actions --------------------------------------------------------------------

# (url name, how to make a member it applies to, extra fields, status after, email subject)
ACTIONS = [
    (
        "member_suspend",
        active_member,
        lambda: date_fields("starts_on", today()) | date_fields("ends_on", None),
        Status.SUSPENDED,
        "Your membership is suspended",
    ),
    ("member_lift_suspension", suspended_member, dict, Status.ACTIVE, "reinstated"),
    (
        "member_remove",
        active_member,
        lambda: date_fields("reapply_after", today() + dt.timedelta(days=730)),
        Status.REMOVED,
        "You have been removed from the register",
    ),
    (
        "member_record_death",
        active_member,
        lambda: date_fields("died_on", today() - dt.timedelta(days=3)),
        Status.DECEASED,
        None,  # nobody emails a person who has died
    ),
    (
        "member_reinstate",
        lambda registrar: _removed(registrar),
        dict,
        Status.ACTIVE,
        "reinstated",
    ),
]


def _removed(registrar) -> Member:
    member = active_member(registrar)
    services.member_remove(member=member, actor=registrar, reason="Misconduct")
    member.refresh_from_db()
    return member


@pytest.mark.parametrize(("url_name", "make", "fields", "to_status", "subject"), ACTIONS)
def test_each_action_demands_a_reason_and_changes_nothing_without_one(
    staff_client, registrar, url_name, make, fields, to_status, subject
):
    member = make(registrar)
    events, audit_events = StatusEvent.objects.count(), AuditEvent.objects.count()
    mail.outbox.clear()
    url = reverse(f"registrar:{url_name}", kwargs={"public_id": member.public_id})

    response = staff_client.post(url, {"reason": "   ", **fields()})

    assert response.status_code == 200
    page = response.content.decode()
    assert "There is a problem" in page
    assert "Give a reason. It is kept in the member&#x27;s history." in page
    typed = {name: value for name, value in fields().items() if value}
    for name, value in typed.items():  # what was typed is still there
        assert f'name="{name}" type="text" inputmode="numeric" value="{value}"' in page
    member_before = member.status
    member.refresh_from_db()
    assert member.status == member_before
    assert (StatusEvent.objects.count(), AuditEvent.objects.count()) == (events, audit_events)
    assert mail.outbox == []


@pytest.mark.parametrize(("url_name", "make", "fields", "to_status", "subject"), ACTIONS)
def test_each_action_writes_an_event_with_the_reason_and_emails_the_member(
    staff_client, registrar, url_name, make, fields, to_status, subject
):
    member = make(registrar)
    mail.outbox.clear()
    url = reverse(f"registrar:{url_name}", kwargs={"public_id": member.public_id})
    assert staff_client.get(url).status_code == 200

    response = staff_client.post(url, {"reason": "Decided by the conduct panel", **fields()})

    assert response.status_code == 302 and response["Location"] == detail_url(member)
    member.refresh_from_db()
    assert member.status == to_status
    event = member.status_events.latest("id")
    assert (event.to_status, event.reason, event.actor, event.source) == (
        to_status,
        "Decided by the conduct panel",
        registrar,
        "staff",
    )
    audit = AuditEvent.objects.latest("sequence")
    assert (audit.action, audit.subject_id, audit.actor, audit.reason) == (
        Action.MEMBER_STATUS_CHANGED,
        str(member.public_id),
        registrar,
        "Decided by the conduct panel",
    )
    if subject:
        assert [m.to for m in mail.outbox] == [[member.user.email]]
        assert subject in mail.outbox[0].subject
        assert "Decided by the conduct panel" in mail.outbox[0].body
    else:
        assert mail.outbox == []
    # The success message is shown on the member's page.
    assert (
        "nhsuk-notification-banner--success"
        in staff_client.get(detail_url(member)).content.decode()
    )


def test_suspend_says_the_reason_is_public_and_keeps_the_end_date(staff_client, registrar):
    member = active_member(registrar)
    url = reverse("registrar:member_suspend", kwargs={"public_id": member.public_id})
    page = staff_client.get(url).content.decode()
    assert "shown on the public register" in page
    assert (
        '<legend class="nhsuk-fieldset__legend nhsuk-fieldset__legend--s">Start date</legend>'
        in (page)
    )
    # Today is filled in for the start date.
    assert f'name="starts_on_year" type="text" inputmode="numeric" value="{today().year}"' in page

    ends = today() + dt.timedelta(days=90)
    staff_client.post(
        url,
        {
            "reason": "Failed CPD audit",
            **date_fields("starts_on", today()),
            **date_fields("ends_on", ends),
        },
    )
    member.refresh_from_db()
    assert (member.status, member.suspended_until, member.suspension_reason) == (
        Status.SUSPENDED,
        ends,
        "Failed CPD audit",
    )
    assert ends.strftime("%-d %B %Y") in mail.outbox[-1].body


def test_a_refusal_from_the_service_is_shown_on_the_form_keeping_what_was_typed(
    staff_client, registrar
):
    member = active_member(registrar)
    url = reverse("registrar:member_suspend", kwargs={"public_id": member.public_id})
    tomorrow = today() + dt.timedelta(days=1)

    response = staff_client.post(
        url, {"reason": "Typed with care", **date_fields("starts_on", tomorrow)}
    )

    page = response.content.decode()
    assert response.status_code == 200
    assert "The suspension must start today or earlier." in page
    assert ">\nTyped with care</textarea>" in page
    assert f'name="starts_on_day" type="text" inputmode="numeric" value="{tomorrow.day}"' in page
    member.refresh_from_db()
    assert member.status == Status.ACTIVE


def test_an_impossible_date_is_an_error_on_that_field(staff_client, registrar):
    member = active_member(registrar)
    url = reverse("registrar:member_record_death", kwargs={"public_id": member.public_id})
    response = staff_client.post(
        url,
        {
            "reason": "Letter from family",
            "died_on_day": "31",
            "died_on_month": "2",
            "died_on_year": "2026",
        },
    )
    page = response.content.decode()
    assert '<a href="#id_died_on_0">Enter a real date, for example 27 3 2026.</a>' in page
    member.refresh_from_db()
    assert member.status == Status.ACTIVE


def test_registrar_pages_take_today_from_the_services(staff_client, registrar):
    """Regression: the death form had its own copy of the "not in the future" rule
    and, like the default dates, its own idea of today (not services.local_today),
    so the page and the service could disagree about the same date."""
    member = active_member(registrar)
    pinned = today() - dt.timedelta(days=10)
    death_url = reverse("registrar:member_record_death", kwargs={"public_id": member.public_id})
    with mock.patch.object(services, "local_today", lambda: pinned):
        page = staff_client.post(
            death_url, {"reason": "Letter", **date_fields("died_on", pinned + dt.timedelta(days=1))}
        ).content.decode()
        assert "The date of death cannot be in the future." in page
        assert "must be today or in the past" not in page
        suspend = staff_client.get(
            reverse("registrar:member_suspend", kwargs={"public_id": member.public_id})
        ).content.decode()
        typed = re.search(r'name="starts_on_day"[^>]*value="(\d+)"', suspend)
        assert typed and typed.group(1) == str(pinned.day)
    member.refresh_from_db()
    assert member.status == Status.ACTIVE


def test_removal_records_when_they_may_reapply(staff_client, registrar):
    member = active_member(registrar)
    reapply = today() + dt.timedelta(days=365 * 2)
    staff_client.post(
        reverse("registrar:member_remove", kwargs={"public_id": member.public_id}),
        {"reason": "Gross misconduct", **date_fields("reapply_after", reapply)},
    )
    member.refresh_from_db()
    assert (member.status, member.reapply_after) == (Status.REMOVED, reapply)
    assert f"You may apply to rejoin from {reapply.strftime('%-d %B %Y')}" in mail.outbox[-1].body


# --- Invoices -------------------------------------------------------------------------


def test_invoice_list_puts_open_invoices_first_and_filters_by_state(staff_client, registrar):
    paid = active_member(registrar).invoices.get()
    _, open_invoice = applicant_with_invoice()
    url = reverse("registrar:invoice_list")

    page = staff_client.get(url).content.decode()
    assert page.index(open_invoice.number) < page.index(paid.number)
    assert "Record payment<span" in page

    page = staff_client.get(url, {"state": "paid"}).content.decode()
    assert paid.number in page and open_invoice.number not in page


def test_recording_payment_activates_an_applicant_with_a_number(staff_client, registrar):
    member, invoice = applicant_with_invoice()
    mail.outbox.clear()
    url = reverse("registrar:invoice_record_payment", kwargs={"public_id": invoice.public_id})
    assert "Northshire NHS Foundation Trust" in staff_client.get(url).content.decode()

    response = staff_client.post(
        url, {**date_fields("received_on", today()), "reference": "BACS 998877"}, follow=True
    )

    member.refresh_from_db()
    assert member.status == Status.ACTIVE and member.membership_number
    payment = Payment.objects.get()
    assert (payment.invoice, payment.reference, payment.recorded_by, payment.received_on) == (
        invoice,
        "BACS 998877",
        registrar,
        today(),
    )
    page = response.content.decode()
    assert f"Payment recorded (receipt {payment.receipt_number})" in page
    assert f"Membership number {member.membership_number}" in page
    assert [m.subject for m in mail.outbox] == [mail.outbox[0].subject]
    assert "Welcome" in mail.outbox[0].subject and member.membership_number in mail.outbox[0].body


def test_recording_payment_twice_records_it_once(staff_client, registrar):
    member, invoice = applicant_with_invoice()
    url = reverse("registrar:invoice_record_payment", kwargs={"public_id": invoice.public_id})
    data = {**date_fields("received_on", today()), "reference": "BACS 1"}

    staff_client.post(url, data)
    mail.outbox.clear()
    second = staff_client.post(url, data, follow=True)

    assert Payment.objects.count() == 1
    assert member.status_events.filter(to_status=Status.ACTIVE).count() == 1
    assert AuditEvent.objects.filter(action=Action.INVOICE_PAID).count() == 1
    assert mail.outbox == []
    assert f"Invoice {invoice.number} is paid." in second.content.decode()


def test_recording_payment_needs_a_reference_and_a_date_not_in_the_future(staff_client, registrar):
    _, invoice = applicant_with_invoice()
    url = reverse("registrar:invoice_record_payment", kwargs={"public_id": invoice.public_id})

    page = staff_client.post(url, date_fields("received_on", today())).content.decode()
    assert "Enter the bank reference." in page

    tomorrow = today() + dt.timedelta(days=1)
    page = staff_client.post(
        url, {**date_fields("received_on", tomorrow), "reference": "BACS 42"}
    ).content.decode()
    assert "The payment date cannot be in the future." in page
    assert 'value="BACS 42"' in page
    invoice.refresh_from_db()
    assert invoice.state == Invoice.State.OPEN and Payment.objects.count() == 0


def test_cancelling_an_invoice_needs_a_reason(staff_client, registrar):
    member, invoice = applicant_with_invoice()
    url = reverse("registrar:invoice_cancel", kwargs={"public_id": invoice.public_id})

    page = staff_client.post(url, {"reason": ""}).content.decode()
    assert "Give a reason." in page
    invoice.refresh_from_db()
    assert invoice.state == Invoice.State.OPEN

    response = staff_client.post(url, {"reason": "Raised at the wrong grade"})
    assert response["Location"] == detail_url(member)
    invoice.refresh_from_db()
    assert invoice.state == Invoice.State.CANCELLED
    audit = AuditEvent.objects.get(action=Action.INVOICE_CANCELLED)
    assert (audit.reason, audit.actor) == ("Raised at the wrong grade", registrar)


INVOICE_LIST_QUERIES = 3 + 2  # count, one page of invoices with member, grade and payment


@pytest.mark.parametrize("invoices", [2, 30])
def test_invoice_list_query_count_does_not_grow(
    staff_client, registrar, django_assert_num_queries, invoices
):
    for n in range(invoices):
        if n % 2:
            active_member(registrar)
        else:
            applicant_with_invoice()
    with django_assert_num_queries(INVOICE_LIST_QUERIES):
        response = staff_client.get(reverse("registrar:invoice_list"))
    assert response.status_code == 200


# --- Finance exports ------------------------------------------------------------------


def test_invoices_csv_lists_every_invoice_with_money_in_pounds_and_pence(staff_client, registrar):
    grade = GradeFactory(name="Associate test", annual_fee_pence=9550)
    member = active_member(
        registrar, grade=grade, user__given_name="Siân", user__family_name="Evans"
    )
    _, open_invoice = applicant_with_invoice()

    response = staff_client.get(reverse("registrar:invoices_csv"))

    assert response.streaming
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"].startswith('attachment; filename="invoices-start-to-')
    header, *rows = csv_rows(response)
    assert header[:9] == [
        "Invoice number",
        "State",
        "Issued on",
        "Due on",
        "Member name",
        "Membership number",
        "Grade",
        "Amount (GBP)",
        "Amount (pence)",
    ]
    paid = member.invoices.get()
    assert rows[0] == [
        paid.number,
        "Paid",
        today().isoformat(),
        paid.due_on.isoformat(),
        "Siân Evans",
        member.membership_number,
        "Associate test",
        "95.50",
        "9550",
        "Northshire NHS Foundation Trust",
        "PO-1",
        "",
        today().isoformat(),
        member.payments.get().receipt_number,
        "BACS 1",
    ]
    assert rows[1][:2] == [open_invoice.number, "Awaiting payment"]
    assert rows[1][5] == "" and rows[1][12:] == ["", "", ""]


def test_payments_csv_lists_receipts_with_their_invoice(staff_client, registrar):
    member = active_member(registrar)
    payment = member.payments.get()

    header, *rows = csv_rows(staff_client.get(reverse("registrar:payments_csv")))

    assert header == [
        "Receipt number",
        "Received on",
        "Method",
        "Amount (GBP)",
        "Amount (pence)",
        "Member name",
        "Membership number",
        "Grade",
        "Invoice number",
        "Payer organisation",
        "Purchase order number",
        "Reference",
        "Period starts",
        "Period ends",
        "Recorded by",
    ]
    assert rows == [
        [
            payment.receipt_number,
            today().isoformat(),
            "Invoice",
            "120.00",
            "12000",
            member.user.get_full_name(),
            member.membership_number,
            member.grade.name,
            member.invoices.get().number,
            "Northshire NHS Foundation Trust",
            "PO-1",
            "BACS 1",
            payment.period.starts_on.isoformat(),
            payment.period.ends_on.isoformat(),
            registrar.email,
        ]
    ]


def test_exports_defuse_cells_a_spreadsheet_would_run_as_formulas(staff_client, registrar):
    member = MemberFactory(user__given_name="@SUM(A1:A9)", user__family_name="Smith")
    invoice = services.invoice_raise(
        member=member,
        payer_organisation='=HYPERLINK("http://evil.example","Pay here")',
        purchase_order="+44 1234",
    )
    services.invoice_record_payment(
        invoice=invoice, received_on=today(), reference="-2+3", actor=registrar
    )

    [_, row] = csv_rows(staff_client.get(reverse("registrar:invoices_csv")))
    assert row[4] == "'@SUM(A1:A9) Smith"
    assert row[9] == '\'=HYPERLINK("http://evil.example","Pay here")'
    assert row[10] == "'+44 1234"
    assert row[14] == "'-2+3"
    [_, row] = csv_rows(staff_client.get(reverse("registrar:payments_csv")))
    assert row[11] == "'-2+3" and row[5] == "'@SUM(A1:A9) Smith"


def test_exports_filter_by_date_range(staff_client, registrar):
    old = active_member(registrar).invoices.get()
    new = active_member(registrar).invoices.get()
    Invoice.objects.filter(pk=old.pk).update(issued_on=dt.date(2025, 1, 15))
    Payment.objects.filter(invoice=old).update(received_on=dt.date(2025, 1, 20))

    response = staff_client.get(
        reverse("registrar:invoices_csv"), {"from_date": "2025-01-01", "to_date": "2025-01-31"}
    )
    assert 'filename="invoices-2025-01-01-to-2025-01-31.csv"' in response["Content-Disposition"]
    assert [r[0] for r in csv_rows(response)[1:]] == [old.number]

    rows = csv_rows(
        staff_client.get(reverse("registrar:payments_csv"), {"from_date": "2025-02-01"})
    )
    assert [r[8] for r in rows[1:]] == [new.number]

    bad = staff_client.get(reverse("registrar:payments_csv"), {"from_date": "2025-13-45"})
    assert bad.status_code == 400 and b"YYYY-MM-DD" in bad.content
    backwards = staff_client.get(
        reverse("registrar:invoices_csv"), {"from_date": "2025-02-01", "to_date": "2025-01-01"}
    )
    assert backwards.status_code == 400


@pytest.mark.parametrize("name", ["invoices_csv", "payments_csv"])
def test_exports_are_for_staff_only(client, registrar, name):
    active_member(registrar)
    url = reverse(f"registrar:{name}")
    assert client.get(url).status_code == 302
    client.force_login(Member.objects.get().user)
    response = client.get(url)
    assert response.status_code == 404 and b"BACS" not in response.content


@pytest.mark.parametrize("name", ["invoices_csv", "payments_csv"])
def test_export_query_count_does_not_grow(staff_client, registrar, django_assert_num_queries, name):
    def count_queries() -> int:
        from django.db import connection
        from django.test.utils import CaptureQueriesContext

        with CaptureQueriesContext(connection) as queries:
            csv_rows(staff_client.get(reverse(f"registrar:{name}")))
        return len(queries)

    active_member(registrar)
    one = count_queries()
    for _ in range(5):
        active_member(registrar)
    with django_assert_num_queries(one):
        assert len(csv_rows(staff_client.get(reverse(f"registrar:{name}")))) == 7


# --- Grade reviews --------------------------------------------------------------------


@pytest.fixture
def fellow_request():
    fellow = Grade.objects.get(slug="fellow")
    member = services.member_join(
        user=UserFactory(given_name="Fiona", family_name="Fellow"),
        grade=fellow,
        job_title="Chief operating officer",
        management_level="executive",
        organisation_other="Westvale Mental Health NHS Foundation Trust",
        register_consent=True,
        agreed_code_of_conduct=True,
        statement="I have led three trusts through merger.",
    )
    return member, member.grade_changes.get()


def test_grade_reviews_list_pending_requests_and_their_applications(
    staff_client, fellow_request, django_assert_max_num_queries
):
    member, _ = fellow_request
    page = staff_client.get(reverse("registrar:grade_review_list")).content.decode()
    assert "Fiona Fellow" in page and "Fellow" in page
    assert "I have led three trusts through merger." in page
    assert "Waiting for the member to start their application" in page

    from accreditation.models import Level
    from accreditation.services import application_create

    application = application_create(
        member=member, level=Level.objects.get(grants_grade__slug="fellow")
    )
    page = staff_client.get(reverse("registrar:grade_review_list")).content.decode()
    assert reverse("registrar_accreditation:application", args=[application.public_id]) in page

    # A fixed number of queries however many requests wait.
    for n in range(3):
        services.member_join(
            user=UserFactory(),
            grade=Grade.objects.get(slug="fellow"),
            job_title="Director",
            management_level="executive",
            organisation_other=f"Trust {n}",
            register_consent=True,
            agreed_code_of_conduct=True,
        )
    with django_assert_max_num_queries(12):
        page = staff_client.get(reverse("registrar:grade_review_list")).content.decode()
    assert page.count("Waiting for the member to start their application") == 3


# --- Seeded data and the admin ----------------------------------------------------------


def test_grades_and_organisations_are_seeded():
    grades = {
        g.slug: (
            g.name,
            g.post_nominals,
            g.annual_fee_pence,
            g.cpd_hours_required,
            g.requires_review,
        )
        for g in Grade.objects.filter(slug__in=["affiliate", "associate", "member", "fellow"])
    }
    assert grades == {
        "affiliate": ("Affiliate", "", 4500, 15, False),
        "associate": ("Associate", "AIHSM", 9500, 30, False),
        "member": ("Member", "MIHSM", 14500, 30, False),
        "fellow": ("Fellow", "FIHSM", 19500, 30, True),
    }
    assert all(g.eligibility for g in Grade.objects.all())
    assert Organisation.objects.filter(name="Northshire NHS Foundation Trust").exists()


@pytest.fixture
def superuser_client(client, registrar):
    registrar.is_superuser = True
    registrar.save()
    client.force_login(registrar)
    return client


@pytest.mark.parametrize(
    "model",
    [
        "grade",
        "organisation",
        "member",
        "invoice",
        "payment",
        "statusevent",
        "reminder",
        "gradechange",
    ],
)
def test_admin_lists_do_not_grow_queries_with_rows(superuser_client, registrar, model):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    url = reverse(f"admin:members_{model}_changelist")

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert superuser_client.get(url).status_code == 200
        return len(captured)

    active_member(registrar)
    one = queries()
    for _ in range(4):
        active_member(registrar)
    assert queries() == one


def test_admin_keeps_standing_read_only_and_audits_profile_edits(superuser_client, registrar):
    member = active_member(registrar)
    url = reverse("admin:members_member_change", args=[member.pk])
    page = superuser_client.get(url).content.decode()
    assert 'name="status"' not in page and 'name="membership_number"' not in page
    assert "they change only through the registrar pages" in page
    assert detail_url(member) in page
    assert superuser_client.get(reverse("admin:members_member_add")).status_code == 403
    assert superuser_client.get(reverse("admin:members_invoice_add")).status_code == 403

    response = superuser_client.post(
        url,
        {
            "job_title": "Director of nursing",
            "management_level": "executive",
            "organisation": "",
            "organisation_other": "Southshire ICB",
            "register_consent": "on",
        },
    )
    assert response.status_code == 302
    member.refresh_from_db()
    assert (member.job_title, member.status) == ("Director of nursing", Status.ACTIVE)
    audit = AuditEvent.objects.get(action=Action.MEMBER_PROFILE_UPDATED)
    assert audit.actor == registrar and audit.after["job_title"] == "Director of nursing"


def test_admin_shows_a_removed_members_profile_read_only(superuser_client, registrar):
    """Regression: the admin offered to edit a removed member's profile, and
    saving it raised the service's refusal as a server error (500)."""
    member = _removed(registrar)
    url = reverse("admin:members_member_change", args=[member.pk])
    page = superuser_client.get(url).content.decode()
    assert 'name="job_title"' not in page and 'name="_save"' not in page

    response = superuser_client.post(
        url,
        {
            "job_title": "Director of nursing",
            "management_level": "executive",
            "organisation": "",
            "organisation_other": "Southshire ICB",
        },
    )
    assert response.status_code == 403
    member.refresh_from_db()
    assert member.job_title != "Director of nursing"
    assert not AuditEvent.objects.filter(action=Action.MEMBER_PROFILE_UPDATED).exists()


def test_member_and_registrar_pages_show_a_status_with_the_same_tag(client, registrar):
    """Regression: member and registrar pages each had their own status tag and
    they disagreed (a death was grey on one and white on the other)."""
    member = active_member(registrar)
    services.member_record_death(member=member, actor=registrar, reason="HR", died_on=today())
    tag = '<strong class="nhsuk-tag nhsuk-tag--white">Deceased</strong>'
    client.force_login(registrar)
    assert tag in client.get(detail_url(member)).content.decode()
    client.force_login(member.user)
    assert tag in client.get(reverse("dashboard")).content.decode()


@pytest.mark.parametrize(
    ("text", "cell"),
    [
        (" =HYPERLINK(1)", "' =HYPERLINK(1)"),
        ("\n@SUM(A1)", "'\n@SUM(A1)"),
        ("\0=1+1", "'\0=1+1"),
        ("Northshire - East", "Northshire - East"),
        ("", ""),
    ],
)
def test_csv_cells_defuse_formulas_behind_leading_space_or_null(text, cell):
    """Regression: a formula after a leading space or line break, or a leading
    NUL (OWASP ASVS 1.2.10), was written out as it stood."""
    from members.staff_views import csv_cell

    assert csv_cell(text) == cell
