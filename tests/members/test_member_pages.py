"""The member's own pages: joining, paying by invoice, the dashboard, documents,
member actions and history."""

import datetime as dt
import re
import zlib
from unittest import mock

import pytest
from django.core import mail
from django.urls import reverse

from audit.models import Action, AuditEvent
from members import documents, services
from members.models import (
    GradeChange,
    Invoice,
    Member,
    Organisation,
    Status,
    StatusEvent,
)
from tests.factories import GradeFactory, MemberFactory, StaffFactory, UserFactory

pytestmark = pytest.mark.django_db

JOIN_DAY = dt.date(2026, 3, 10)
ORGANISATION = "Testshire General Hospital NHS Trust"


@pytest.fixture
def today():
    """Pin the service layer's idea of today (the pages read it from there too)."""

    class Clock:
        value = JOIN_DAY

        def set(self, day: dt.date) -> None:
            self.value = day

    clock = Clock()
    with mock.patch.object(services, "local_today", lambda: clock.value):
        yield clock


@pytest.fixture
def registrar():
    return StaffFactory()


@pytest.fixture
def grade():
    return GradeFactory(
        name="Practitioner",
        slug="practitioner",
        post_nominals="PIHSM",
        annual_fee_pence=12000,
        eligibility="Managers who lead a team day to day.",
    )


@pytest.fixture
def fellow():
    return GradeFactory(
        name="Senior Fellow",
        slug="senior-fellow",
        post_nominals="SFIHSM",
        annual_fee_pence=25000,
        requires_review=True,
        eligibility="Executive leaders with a substantial record.",
    )


def pay(member: Member, registrar, on: dt.date, purchase_order: str = "PO-1"):
    invoice = services.invoice_raise(
        member=member, payer_organisation="Northshire NHS FT", purchase_order=purchase_order
    )
    return services.invoice_record_payment(
        invoice=invoice, received_on=on, reference="BACS 123", actor=registrar
    )


def active_member(registrar, today, **member_fields) -> Member:
    today.set(JOIN_DAY)
    member = MemberFactory(**member_fields)
    pay(member, registrar, JOIN_DAY)
    member.refresh_from_db()
    return member


def signed_in(client, member_or_user):
    user = getattr(member_or_user, "user", member_or_user)
    client.force_login(user)
    return client


def join_data(grade, **overrides) -> dict:
    return {
        "organisation": ORGANISATION.upper(),
        "job_title": "Outpatients manager",
        "management_level": "middle",
        "register_consent": "on",
        "grade": grade.pk,
        "statement": "",
        "agreed_code_of_conduct": "on",
        **overrides,
    }


def pdf_text(pdf: bytes) -> bytes:
    """The PDF with its compressed streams inflated, to look for strings in its metadata."""
    parts = [pdf]
    for stream in re.findall(rb"stream\r?\n(.*?)\r?\nendstream", pdf, re.S):
        try:
            parts.append(zlib.decompress(stream))
        except zlib.error:
            continue
    return b"\n".join(parts)


# --- Joining and paying -------------------------------------------------------------


def test_join_then_pay_by_invoice(client, today, grade):
    Organisation.objects.create(name=ORGANISATION)
    user = UserFactory(given_name="Ada", family_name="Lovelace")
    signed_in(client, user)

    page = client.get(reverse("membership_join")).text
    assert "Practitioner" in page and "(PIHSM)" in page and "£120.00 a year" in page
    assert "Managers who lead a team day to day." in page
    assert f'<option value="{ORGANISATION}">' in page  # the searchable list
    assert 'href="/code-of-conduct/"' in page

    response = client.post(reverse("membership_join"), join_data(grade))
    assert response.status_code == 302
    assert response["Location"] == reverse("membership_pay")
    member = Member.objects.get(user=user)
    assert member.status == Status.APPLICANT
    assert member.organisation.name == ORGANISATION  # matched whatever the case typed
    assert member.organisation_other == ""
    assert (member.job_title, member.management_level, member.register_consent) == (
        "Outpatients manager",
        "middle",
        True,
    )
    assert member.grade == grade
    assert [(e.from_status, e.to_status) for e in member.status_events.all()] == [("", "applicant")]
    assert not mail.outbox

    pay_page = client.get(reverse("membership_pay")).text
    assert "Pay for your membership" in pay_page
    assert "not available at the moment" in pay_page
    assert "12 months from the day we receive payment" in pay_page
    assert f'value="{ORGANISATION}"' in pay_page  # the payer defaults to the employer

    response = client.post(
        reverse("membership_pay_by_invoice"),
        {
            "payer_organisation": "Testshire ICB",
            "purchase_order": "PO-4471",
            "payer_email": "accounts@testshire.example",
        },
    )
    invoice = Invoice.objects.get(member=member)
    assert response["Location"] == reverse("membership_invoice", args=[invoice.public_id])
    assert (invoice.amount_pence, invoice.payer_organisation, invoice.purchase_order) == (
        12000,
        "Testshire ICB",
        "PO-4471",
    )
    assert invoice.payer_email == "accounts@testshire.example"
    assert invoice.state == Invoice.State.OPEN
    assert [m.subject for m in mail.outbox] == [
        f"[Institute of Health Service Managers] Invoice {invoice.number} for your membership"
    ]
    assert mail.outbox[0].to == [user.email]
    assert AuditEvent.objects.filter(
        action=Action.INVOICE_RAISED, subject_id=str(member.public_id)
    ).exists()

    page = client.get(response["Location"]).text
    assert f"Invoice {invoice.number} raised" in page  # the success message
    assert "£120.00" in page and "PO-4471" in page
    assert reverse("membership_invoice_pdf", args=[invoice.public_id]) in page

    # With an invoice open, the payment page sends the member to it, not to a second one.
    response = client.get(reverse("membership_pay"))
    assert response["Location"] == reverse("membership_invoice", args=[invoice.public_id])
    assert Invoice.objects.count() == 1


def test_a_second_concurrent_join_submit_lands_on_the_dashboard(client, today, grade):
    """Regression: when two submits of the join form raced, the one that lost
    showed "There is a problem: You have already joined." for a join that
    had worked. (The first check in the view passed for both.)"""
    user = UserFactory()
    signed_in(client, user)
    MemberFactory(user=user, grade=grade)  # the other submit's work, committed meanwhile
    with mock.patch("members.views.member_for_user", return_value=None):
        response = client.post(reverse("membership_join"), join_data(grade))
    assert response.status_code == 302 and response["Location"] == reverse("dashboard")
    assert Member.objects.filter(user=user).count() == 1


def test_join_and_action_buttons_ignore_a_double_click(client, today, registrar):
    signed_in(client, UserFactory())
    assert (
        'data-prevent-double-click="true" type="submit">Continue'
        in client.get(reverse("membership_join")).text
    )
    signed_in(client, active_member(registrar, today))
    for name in ("membership_resign", "membership_pause", "membership_profile"):
        assert 'data-prevent-double-click="true"' in client.get(reverse(name)).text, name


def test_join_with_errors_rerenders_with_the_messages_and_keeps_what_was_typed(client, grade):
    user = UserFactory()
    signed_in(client, user)
    response = client.post(
        reverse("membership_join"),
        join_data(
            grade,
            organisation="Unlisted Community Interest Company",
            job_title="",
            management_level="",
            statement="Twelve years running theatres",
            agreed_code_of_conduct="",
        ),
    )
    assert response.status_code == 200
    page = response.text
    assert "There is a problem" in page
    summary = page.split("nhsuk-error-summary__list")[1].split("</ul>")[0]
    assert '<a href="#id_job_title">Enter your job title</a>' in summary
    assert '<a href="#id_management_level_0">Choose your management level</a>' in summary
    assert "Agree to the code of conduct to join" in summary
    assert "<title>Error: Join" in page
    # Nothing typed is lost.
    assert 'value="Unlisted Community Interest Company"' in page
    assert "Twelve years running theatres" in page
    assert re.search(rf'<input[^>]*value="{grade.pk}"[^>]*checked', page)
    assert not Member.objects.exists()


def test_join_with_an_organisation_not_on_the_list(client, today, grade):
    user = UserFactory()
    signed_in(client, user)
    client.post(
        reverse("membership_join"),
        join_data(grade, organisation="  Unlisted Social Enterprise  "),
    )
    member = Member.objects.get(user=user)
    assert member.organisation is None
    assert member.organisation_other == "Unlisted Social Enterprise"


def test_join_at_a_grade_that_needs_review_waits_for_its_review(client, today, fellow):
    user = UserFactory()
    signed_in(client, user)
    response = client.post(
        reverse("membership_join"),
        join_data(fellow, management_level="executive", statement="Chief executive for 8 years"),
    )
    assert response["Location"] == reverse("membership_join_review")
    member = Member.objects.get(user=user)
    change = GradeChange.objects.get(member=member)
    assert (change.to_grade, change.state, change.statement) == (
        fellow,
        GradeChange.State.PENDING,
        "Chief executive for 8 years",
    )

    page = client.get(response["Location"]).text
    assert "Make your case for the Senior Fellow grade" in page
    assert reverse("accreditation:index") in page
    assert "Senior Fellow" in page and "£250.00" in page

    # No invoice can be raised until a registrar approves.
    assert client.get(reverse("membership_pay"))["Location"] == reverse("dashboard")
    response = client.post(
        reverse("membership_pay_by_invoice"), {"payer_organisation": "Trust"}, follow=True
    )
    assert "waiting for its review" in response.text
    assert not Invoice.objects.exists()
    dashboard = client.get(reverse("dashboard")).text
    assert "Make your case for the Senior Fellow grade" in dashboard
    assert "awarded on review, like an accreditation" in dashboard


def test_someone_who_has_joined_is_sent_to_the_dashboard(client, today):
    member = MemberFactory()
    signed_in(client, member)
    assert client.get(reverse("membership_join"))["Location"] == reverse("dashboard")
    assert client.post(reverse("membership_join"), {})["Location"] == reverse("dashboard")
    assert Member.objects.count() == 1


def test_member_pages_need_a_sign_in_and_a_membership(client):
    for name in ("membership_join", "membership_pay", "membership_history", "membership_pause"):
        response = client.get(reverse(name))
        assert response["Location"].startswith(reverse("account_login")), name
    signed_in(client, UserFactory())
    for name in ("membership_pay", "membership_history", "membership_resign"):
        assert client.get(reverse(name))["Location"] == reverse("membership_join"), name


def test_code_of_conduct_page(client):
    page = client.get(reverse("code_of_conduct")).text
    assert "<h1>Code of conduct</h1>" in page
    assert "Put patients and the public first" in page


# --- Dashboard -------------------------------------------------------------------------


def next_step(client) -> str:
    page = client.get(reverse("dashboard")).text
    return page.split('id="next-step"')[1].split("</div>\n    </div>")[0]


def test_dashboard_before_joining_invites_the_user_to_join(client):
    signed_in(client, UserFactory(given_name="Ada"))
    page = client.get(reverse("dashboard")).text
    assert "Welcome, Ada" in page
    assert reverse("membership_join") in page and "Join now" in page
    assert "Your account" in page


def test_dashboard_of_an_applicant_shows_the_way_to_pay(client, today):
    member = MemberFactory()
    signed_in(client, member)
    step = next_step(client)
    assert "Pay for your membership" in step and reverse("membership_pay") in step

    invoice = services.invoice_raise(member=member, payer_organisation="Northshire NHS FT")
    step = next_step(client)
    assert f"Pay invoice {invoice.number}" in step
    assert reverse("membership_invoice_pdf", args=[invoice.public_id]) in step
    page = client.get(reverse("dashboard")).text
    assert "Applicant" in page and "nhsuk-tag--blue" in page
    assert "You get one when your first payment is recorded" in page


def test_dashboard_of_an_active_member(client, today, registrar, grade):
    member = active_member(registrar, today, grade=grade)
    signed_in(client, member)
    page = client.get(reverse("dashboard")).text
    assert '<strong class="nhsuk-tag nhsuk-tag--green">Active</strong>' in page
    assert "Practitioner" in page and "Post-nominal letters: PIHSM" in page
    assert member.membership_number in page
    assert "9 March 2027" in page  # period end
    assert "Nothing to do" in next_step(client)
    invoice = member.invoices.get()
    payment = member.payments.get()
    # Invoices: number, amount, state, download; receipts likewise.
    assert invoice.number in page and "£120.00" in page and ">Paid</strong>" in page
    assert reverse("membership_invoice_pdf", args=[invoice.public_id]) in page
    assert payment.receipt_number in page
    assert reverse("membership_receipt_pdf", args=[payment.public_id]) in page
    assert "10 Mar 2026 to 9 Mar 2027" in page
    # Status history: date, from and to, reason.
    history = page.split('id="status-history"')[1]
    assert "Applicant to Active" in history and "Payment received" in history

    # From the day renewal opens the next step is to renew; paying raises the next invoice.
    today.set(dt.date(2027, 1, 8))
    step = next_step(client)
    assert "Renew your membership" in step and "ends on 9 March 2027" in step
    assert "12 months from 10 March 2027" in client.get(reverse("membership_pay")).text
    client.post(reverse("membership_pay_by_invoice"), {"payer_organisation": "Northshire"})
    renewal = member.invoices.get(state=Invoice.State.OPEN)
    assert renewal.number != invoice.number


def test_dashboard_in_grace_and_after_lapsing(client, today, registrar):
    member = active_member(registrar, today)
    signed_in(client, member)
    services.membership_daily_run(today=dt.date(2027, 3, 10))
    today.set(dt.date(2027, 3, 10))
    step = next_step(client)
    assert "Renew your membership" in step and "Renew by 8 April 2027" in step
    assert "In grace period" in client.get(reverse("dashboard")).text

    services.membership_daily_run(today=dt.date(2027, 4, 9))
    today.set(dt.date(2027, 4, 9))
    step = next_step(client)
    assert "Rejoin" in step and "lapsed on 9 April 2027" in step
    assert member.membership_number in step


def test_dashboard_of_a_suspended_member_gives_the_reason(client, today, registrar):
    member = active_member(registrar, today)
    services.member_suspend(
        member=member,
        actor=registrar,
        reason="Under investigation by the regulator",
        starts_on=JOIN_DAY,
        ends_on=dt.date(2026, 6, 30),
    )
    signed_in(client, member)
    step = next_step(client)
    assert "Your membership is suspended" in step
    assert "Under investigation by the regulator" in step and "30 June 2026" in step
    page = client.get(reverse("dashboard")).text
    assert "nhsuk-tag--red" in page
    assert "Active to Suspended" in page
    # Nothing a suspended member cannot do is offered.
    assert reverse("membership_pause") not in page and reverse("membership_resign") not in page
    assert client.get(reverse("membership_pay"))["Location"] == reverse("dashboard")


def test_dashboard_of_a_removed_member_says_when_they_may_reapply(client, today, registrar):
    member = active_member(registrar, today)
    services.member_remove(
        member=member,
        actor=registrar,
        reason="Gross misconduct",
        reapply_after=dt.date(2029, 1, 1),
    )
    signed_in(client, member)
    step = next_step(client)
    assert "You are no longer on the register" in step
    assert "Gross misconduct" in step and "1 January 2029" in step


def test_dashboard_query_count_does_not_grow_with_history(
    client, today, registrar, django_assert_num_queries
):
    small = active_member(registrar, today)
    big = active_member(registrar, today)
    for year in (2027, 2028, 2029):
        today.set(dt.date(year, 3, 1))
        pay(big, registrar, dt.date(year, 3, 1), purchase_order=f"PO-{year}")
    services.member_suspend(member=big, actor=registrar, reason="Check", starts_on=today.value)
    services.member_suspension_lift(member=big, actor=registrar, reason="Cleared")
    services.invoice_raise(member=big, payer_organisation="Northshire NHS FT")
    assert big.invoices.count() == 5 and big.status_events.count() == 3

    # Session, user, MFA check, member, invoices, payments, their refunds, events, pending
    # grade change, the development goals due and certificates (the employers who checked
    # them come with the member).
    for member in (small, big):
        client.force_login(member.user)
        with django_assert_num_queries(11):
            response = client.get(reverse("dashboard"))
        assert response.status_code == 200
    page = response.text
    assert all(number in page for number in big.invoices.values_list("number", flat=True))
    assert all(n in page for n in big.payments.values_list("receipt_number", flat=True))

    # The history page likewise: session, user, member, audit events with their actors.
    for member in (small, big):
        client.force_login(member.user)
        with django_assert_num_queries(4):
            response = client.get(reverse("membership_history"))
    assert response.text.count("Invoice paid") == 4


# --- Invoices and receipts ---------------------------------------------------------


def test_invoice_and_receipt_pdfs(client, today, registrar, grade):
    member = active_member(registrar, today, grade=grade)
    member.user.given_name, member.user.family_name = "Ada", "Lovelace"
    member.user.save()
    invoice = member.invoices.get()
    payment = member.payments.get()
    signed_in(client, member)

    response = client.get(reverse("membership_invoice_pdf", args=[invoice.public_id]))
    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    assert response["Content-Disposition"] == f'attachment; filename="{invoice.number}.pdf"'
    assert response.content.startswith(b"%PDF")
    assert f"Invoice {invoice.number}".encode() in pdf_text(response.content)

    response = client.get(reverse("membership_receipt_pdf", args=[payment.public_id]))
    assert response.content.startswith(b"%PDF")
    assert response["Content-Disposition"] == (
        f'attachment; filename="{payment.receipt_number}.pdf"'
    )
    assert f"Receipt {payment.receipt_number}".encode() in pdf_text(response.content)


def test_invoice_and_receipt_documents_say_what_a_finance_team_needs(today, registrar, grade):
    member = active_member(registrar, today, grade=grade)
    member.user.given_name, member.user.family_name = "Ada", "Lovelace"
    member.user.save()
    invoice = Invoice.objects.select_related("member__user", "grade").get(member=member)
    html = documents.invoice_html(invoice)
    for text in (
        "Institute of Health Service Managers",
        f"Invoice {invoice.number}",
        "Northshire NHS FT",
        "PO-1",
        "Ada Lovelace",
        member.membership_number,
        "Practitioner grade",
        "£120.00",
        "VAT",
        "Not applicable",
        "bank transfer",
        "available on request",
        "10 March 2026",  # issued
        "9 April 2026",  # due
        ">Paid<",
    ):
        assert text in html, text

    payment = member.payments.select_related("member__user", "period__grade", "invoice").get()
    html = documents.receipt_html(payment)
    for text in (
        f"Receipt {payment.receipt_number}",
        invoice.number,
        "BACS 123",
        member.membership_number,
        "10 March 2026 to 9 March 2027",
        "£120.00",
    ):
        assert text in html, text


def test_documents_fetch_nothing_from_outside(monkeypatch):
    """PDF rendering may read inline data: URLs only; never the network or local files."""
    import urllib.request

    opened = []
    real_open = urllib.request.OpenerDirector.open

    def spy(self, url, *args, **kwargs):
        opened.append(getattr(url, "full_url", url))
        return real_open(self, url, *args, **kwargs)

    monkeypatch.setattr(urllib.request.OpenerDirector, "open", spy)
    pixel = (
        "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAQAAAC1HAwCAAAAC0lEQVR4nGNg"
        "YAAAAAMAASsJTYQAAAAASUVORK5CYII="
    )
    pdf = documents.pdf_from_html(
        f'<link rel="stylesheet" href="https://example.invalid/x.css">'
        f'<img src="http://example.invalid/x.png"><img src="file:///etc/hostname">'
        f'<img src="{pixel}"><p>Hello</p>'
    )
    assert pdf.startswith(b"%PDF")
    assert opened and all(url.startswith("data:") for url in opened), opened


def test_another_members_invoice_and_receipt_are_not_found(client, today, registrar):
    owner = active_member(registrar, today)
    invoice, payment = owner.invoices.get(), owner.payments.get()
    urls = [
        reverse("membership_invoice", args=[invoice.public_id]),
        reverse("membership_invoice_pdf", args=[invoice.public_id]),
        reverse("membership_receipt_pdf", args=[payment.public_id]),
    ]
    for url in urls:
        assert client.get(url)["Location"].startswith(reverse("account_login"))
    signed_in(client, active_member(registrar, today))
    for url in urls:
        assert client.get(url).status_code == 404
    # Staff use the registrar pages, not the member's own.
    staff_member = MemberFactory(user=StaffFactory())
    client.force_login(staff_member.user)
    with mock.patch("members.middleware.is_mfa_enabled", return_value=True):
        for url in urls:
            assert client.get(url).status_code == 404


# --- Member actions ----------------------------------------------------------------


def test_resign_at_the_end_of_the_period(client, today, registrar):
    member = active_member(registrar, today)
    signed_in(client, member)
    mail.outbox.clear()
    page = client.get(reverse("membership_resign")).text
    assert "When my current period ends on 9 March 2027" in page
    member.refresh_from_db()
    assert not member.resign_at_period_end  # showing the page changes nothing

    response = client.post(
        reverse("membership_resign"), {"when": "period_end", "reason": "Retiring"}, follow=True
    )
    assert "Your resignation is booked. Your membership ends on 9 March 2027." in response.text
    member.refresh_from_db()
    assert member.resign_at_period_end and member.status == Status.ACTIVE
    assert len(mail.outbox) == 1
    assert "Your membership ends on 9 March 2027" in next_step(client)


def test_resign_now(client, today, registrar):
    member = active_member(registrar, today)
    signed_in(client, member)
    response = client.post(reverse("membership_resign"), {"when": "now", "reason": ""}, follow=True)
    assert "You have resigned" in response.text
    member.refresh_from_db()
    assert member.status == Status.RESIGNED
    event = member.status_events.latest("id")
    assert (event.from_status, event.to_status, event.source) == ("active", "resigned", "member")
    assert "Rejoin" in next_step(client)


def test_resign_needs_a_choice(client, today, registrar):
    member = active_member(registrar, today)
    signed_in(client, member)
    response = client.post(reverse("membership_resign"), {"reason": "Moving abroad"})
    assert "Choose when you want to resign" in response.text
    assert "Moving abroad" in response.text
    member.refresh_from_db()
    assert member.status == Status.ACTIVE


def test_pause_and_resume(client, today, registrar):
    member = active_member(registrar, today)
    signed_in(client, member)
    response = client.post(reverse("membership_pause"), {"reason": ""})
    assert "Tell us why you are pausing your membership" in response.text

    response = client.post(reverse("membership_pause"), {"reason": "Parental leave"}, follow=True)
    assert "Your membership is paused" in response.text
    member.refresh_from_db()
    assert member.status == Status.PAUSED
    assert member.status_events.latest("id").reason == "Parental leave"
    assert "Resume your membership" in next_step(client)

    today.set(JOIN_DAY + dt.timedelta(days=100))
    assert "paused since 10 March 2026" in client.get(reverse("membership_resume")).text
    response = client.post(reverse("membership_resume"), follow=True)
    member.refresh_from_db()
    assert member.status == Status.ACTIVE
    assert member.period_ends_on == dt.date(2027, 3, 9) + dt.timedelta(days=100)
    assert "Welcome back. Your membership is active and runs until 17 June 2027" in response.text


def test_a_refused_action_shows_the_reason_and_keeps_the_input(client, today):
    member = MemberFactory()  # an applicant cannot pause
    signed_in(client, member)
    response = client.post(reverse("membership_pause"), {"reason": "Career break"})
    assert response.status_code == 200
    assert "Only an active membership can be paused." in response.text
    assert "Career break" in response.text
    member.refresh_from_db()
    assert member.status == Status.APPLICANT


def test_actions_change_nothing_on_get(client, today, registrar):
    member = active_member(registrar, today)
    signed_in(client, member)
    events = StatusEvent.objects.count()
    for name in (
        "membership_pause",
        "membership_resign",
        "membership_profile",
        "membership_grade_change",
    ):
        assert client.get(reverse(name)).status_code == 200
    assert client.get(reverse("membership_pay_by_invoice")).status_code == 405
    assert StatusEvent.objects.count() == events


def test_update_profile(client, today, registrar):
    member = active_member(registrar, today)
    Organisation.objects.create(name=ORGANISATION)
    signed_in(client, member)
    page = client.get(reverse("membership_profile")).text
    assert 'value="Northshire NHS Foundation Trust"' in page  # current values filled in
    response = client.post(
        reverse("membership_profile"),
        {
            "organisation": ORGANISATION,
            "job_title": "Director of operations",
            "management_level": "senior",
            "register_consent": "",
        },
        follow=True,
    )
    assert "Your details are updated." in response.text
    member.refresh_from_db()
    assert member.organisation.name == ORGANISATION and member.organisation_other == ""
    assert (member.job_title, member.management_level, member.register_consent) == (
        "Director of operations",
        "senior",
        False,
    )
    event = AuditEvent.objects.filter(action=Action.MEMBER_PROFILE_UPDATED).get()
    assert event.after["job_title"] == "Director of operations"


def test_change_to_a_grade_without_review_is_immediate(client, today, registrar, grade):
    member = active_member(registrar, today)
    open_invoice = services.invoice_raise(member=member, payer_organisation="Northshire")
    signed_in(client, member)
    page = client.get(reverse("membership_grade_change")).text
    assert member.grade.name not in page.split("<fieldset")[1]  # not offered the current grade
    response = client.post(
        reverse("membership_grade_change"), {"grade": grade.pk, "statement": ""}, follow=True
    )
    assert "Your grade is now Practitioner." in response.text
    member.refresh_from_db()
    open_invoice.refresh_from_db()
    assert member.grade == grade
    assert open_invoice.state == Invoice.State.CANCELLED


def test_grade_change_page_warns_any_member_with_an_open_invoice(client, today, grade):
    """Regression: the page said an unpaid invoice is cancelled only to active
    members and members in grace, but the service cancels anyone's, an
    applicant's included."""
    member = MemberFactory()
    open_invoice = services.invoice_raise(member=member, payer_organisation="Northshire")
    signed_in(client, member)
    page = client.get(reverse("membership_grade_change")).text
    assert "any invoice you have not paid yet is cancelled" in page
    client.post(reverse("membership_grade_change"), {"grade": grade.pk, "statement": ""})
    open_invoice.refresh_from_db()
    assert open_invoice.state == Invoice.State.CANCELLED


def test_change_to_a_grade_that_needs_review_goes_to_review(client, today, registrar, fellow):
    member = active_member(registrar, today)
    signed_in(client, member)
    response = client.post(
        reverse("membership_grade_change"),
        {"grade": fellow.pk, "statement": "Board member for 5 years"},
        follow=True,
    )
    assert "The Senior Fellow grade is awarded on review" in response.text
    assert "Your request to move to the Senior Fellow grade is decided on review" in response.text
    change = member.grade_changes.get()
    assert (change.state, change.statement) == (
        GradeChange.State.PENDING,
        "Board member for 5 years",
    )
    member.refresh_from_db()
    assert member.grade != fellow
    # A second request is refused with the service's reason.
    other = GradeFactory(name="Other", slug="other")
    response = client.post(reverse("membership_grade_change"), {"grade": other.pk})
    assert "already have a grade change waiting for review" in response.text


def test_a_declined_applicant_must_choose_another_grade_before_paying(
    client, today, registrar, grade, fellow
):
    """Regression: once a registrar declined the grade someone applied for, nothing
    was pending, so they could raise an invoice for that grade and become a member
    of it by paying."""
    user = UserFactory()
    signed_in(client, user)
    client.post(reverse("membership_join"), join_data(fellow, management_level="executive"))
    member = Member.objects.get(user=user)
    services.grade_change_decide(
        change=member.grade_changes.get(), actor=registrar, approve=False, reason="Not yet"
    )
    assert "choose another grade" in mail.outbox[-1].body

    step = next_step(client)
    assert "Choose another grade" in step
    assert "Your application for the Senior Fellow grade was declined or withdrawn" in step
    assert reverse("membership_grade_change") in step
    assert client.get(reverse("membership_pay"))["Location"] == reverse("dashboard")
    response = client.post(reverse("membership_pay_by_invoice"), {"payer_organisation": "Trust"})
    assert "needs a registrar&#x27;s approval, which it does not have" in response.text
    assert not Invoice.objects.exists()

    client.post(reverse("membership_grade_change"), {"grade": grade.pk, "statement": ""})
    member.refresh_from_db()
    assert member.grade == grade
    assert "Pay for your membership" in next_step(client)
    client.post(reverse("membership_pay_by_invoice"), {"payer_organisation": "Trust"})
    assert Invoice.objects.get(member=member).grade == grade


# --- History -----------------------------------------------------------------------


def test_history_lists_the_members_own_audit_events(client, today, registrar):
    member = active_member(registrar, today)
    services.member_suspend(
        member=member, actor=registrar, reason="Complaint received", starts_on=JOIN_DAY
    )
    other = active_member(registrar, today)
    services.member_suspend(
        member=other, actor=registrar, reason="Someone else's business", starts_on=JOIN_DAY
    )
    signed_in(client, member)
    page = client.get(reverse("membership_history")).text
    assert "Complaint received" in page
    assert "Someone else's business" not in page
    for label in ("Invoice raised", "Invoice paid", "Status changed"):
        assert label in page
    assert "Status: Active to Suspended" in page
    assert "A registrar" in page and registrar.email not in page
    assert "£120.00" in page
