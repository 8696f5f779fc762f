"""The member's accreditation pages and the referee's tokenised page."""

import datetime as dt
import re
from html import unescape

import pytest
from django.core import mail
from django.urls import reverse
from django.utils import timezone

from accreditation import services
from accreditation.models import Application, Referee
from tests.accreditation.builders import log_cpd, ready, recommended, state_of
from tests.factories import MemberFactory

pytestmark = pytest.mark.django_db
State = Application.State


@pytest.fixture
def signed_in(client, member):
    client.force_login(member.user)
    return client


def text(response) -> str:
    return unescape(re.sub(r"\s+", " ", response.content.decode()))


def detail_url(application):
    return reverse("accreditation:detail", args=[application.public_id])


def token_from_email() -> str:
    body = mail.outbox[-1].body
    return re.search(r"/accreditation/referee/([^/\s]+)/", body).group(1)


def test_the_index_lists_levels_and_starts_a_draft(signed_in, member, level):
    page = signed_in.get(reverse("accreditation:index"))
    assert page.status_code == 200
    assert level.name in text(page)
    response = signed_in.post(reverse("accreditation:index"), {"level": level.pk})
    application = Application.objects.get(member=member)
    assert response.status_code == 302
    assert response["Location"] == detail_url(application)
    assert application.state == State.DRAFT
    # The level with an open application is not offered again.
    page = signed_in.get(reverse("accreditation:index"))
    assert f'name="level" value="{level.pk}"' not in page.content.decode()


def test_draft_to_submission_through_the_pages(signed_in, client, member, level, standards):
    signed_in.post(reverse("accreditation:index"), {"level": level.pk})
    application = Application.objects.get(member=member)
    url = detail_url(application)
    page = signed_in.get(url)
    assert "What is missing" in text(page)
    assert "Write a career summary." in text(page)

    since = timezone.localdate() - dt.timedelta(days=3 * 365)
    saved = signed_in.post(
        reverse("accreditation:details", args=[application.public_id]),
        {
            "career_summary": "Ten years in outpatients.",
            "management_since_day": since.day,
            "management_since_month": since.month,
            "management_since_year": since.year,
        },
    )
    assert saved.status_code == 302
    entry = log_cpd(member)
    other_entry = log_cpd(MemberFactory())
    form_page = signed_in.get(
        reverse("accreditation:statement", args=[application.public_id, standards[0].pk])
    )
    assert entry.title in text(form_page)
    assert f'value="{other_entry.pk}"' not in form_page.content.decode()
    for standard in standards:
        response = signed_in.post(
            reverse("accreditation:statement", args=[application.public_id, standard.pk]),
            {"statement": f"How I meet {standard.code}.", "entries": [entry.pk]},
        )
        assert response.status_code == 302
    assert list(application.statements.get(standard=standards[0]).entries.all()) == [entry]

    for n in range(2):
        mail.outbox.clear()
        response = signed_in.post(
            reverse("accreditation:referee_invite", args=[application.public_id]),
            {"name": f"Referee {n}", "email": f"ref{n}@example.org"},
        )
        assert response.status_code == 302
        assert mail.outbox[-1].to == [f"ref{n}@example.org"]
        token = token_from_email()
        referee_url = reverse("accreditation:referee", args=[token])
        client.logout()
        page = client.get(referee_url)
        assert page.status_code == 200
        assert "How I meet D1.1." in text(page)
        assert application.level.name in text(page)
        done = client.post(referee_url, {"response": "confirm", "comment": "True."})
        assert done.status_code == 200
        assert "Thank you" in text(done)
        client.force_login(member.user)

    page = signed_in.get(url)
    assert "Ready to submit" in text(page)
    assert "Confirmed" in text(page)
    response = signed_in.post(reverse("accreditation:submit", args=[application.public_id]))
    assert response.status_code == 302
    assert state_of(application) == State.SUBMITTED
    page = signed_in.get(url)
    assert "Submit application" not in text(page)
    assert "Submitted" in text(page)


def test_not_eligible_lists_every_failure(signed_in, member, level):
    application = services.application_create(member=member, level=level)
    response = signed_in.post(reverse("accreditation:submit", args=[application.public_id]))
    assert response.status_code == 400
    page = text(response)
    assert "cannot be submitted yet" in page
    for failure in services.application_eligibility_failures(application=application):
        assert failure in page
    assert state_of(application) == State.DRAFT


def test_withdraw_asks_then_withdraws(signed_in, member, level):
    application = services.application_create(member=member, level=level)
    url = reverse("accreditation:withdraw", args=[application.public_id])
    page = signed_in.get(url)
    assert "Are you sure" in text(page)
    assert state_of(application) == State.DRAFT
    response = signed_in.post(url)
    assert response.status_code == 302
    assert state_of(application) == State.WITHDRAWN
    # Withdrawn: nothing more to withdraw, and the refusal is shown.
    again = signed_in.post(url)
    assert state_of(application) == State.WITHDRAWN
    assert again.status_code in (200, 302)


def test_referee_link_is_single_use(client, member, level):
    application = services.application_create(member=member, level=level)
    _, token = services.referee_invite(application=application, name="Ann", email="a@example.org")
    url = reverse("accreditation:referee", args=[token])
    assert client.post(url, {"response": "decline", "comment": "Not seen it"}).status_code == 200
    referee = Referee.objects.get()
    assert referee.response == Referee.Response.DECLINE
    assert referee.comment == "Not seen it"
    again = client.get(url)
    assert again.status_code == 410
    assert "already been used" in text(again)
    assert client.post(url, {"response": "confirm"}).status_code == 410
    referee.refresh_from_db()
    assert referee.response == Referee.Response.DECLINE


def test_referee_must_choose_an_answer(client, member, level):
    application = services.application_create(member=member, level=level)
    _, token = services.referee_invite(application=application, name="Ann", email="a@example.org")
    page = client.post(reverse("accreditation:referee", args=[token]), {"comment": "Hmm"})
    assert page.status_code == 200
    assert "There is a problem" in text(page)
    assert Referee.objects.get().responded_at is None


def test_referee_link_expires(client, member, level):
    application = services.application_create(member=member, level=level)
    _, token = services.referee_invite(application=application, name="Ann", email="a@example.org")
    Referee.objects.update(expires_at=timezone.now() - dt.timedelta(minutes=1))
    url = reverse("accreditation:referee", args=[token])
    page = client.get(url)
    assert page.status_code == 410
    assert "expired" in text(page)
    assert client.post(url, {"response": "confirm"}).status_code == 410
    assert Referee.objects.get().responded_at is None


def test_unknown_referee_link(client):
    page = client.get(reverse("accreditation:referee", args=["nonsense"]))
    assert page.status_code == 404
    assert "not recognised" in text(page)


def test_another_members_application_is_not_found(client, member, level, standards):
    application = services.application_create(member=member, level=level)
    other = MemberFactory(status="active")
    client.force_login(other.user)
    pid = application.public_id
    for name in ("detail", "details", "withdraw", "appeal"):
        assert client.get(reverse(f"accreditation:{name}", args=[pid])).status_code == 404
    assert (
        client.get(reverse("accreditation:statement", args=[pid, standards[0].pk])).status_code
        == 404
    )
    for name in ("submit", "withdraw", "referee_invite", "information_respond"):
        assert client.post(reverse(f"accreditation:{name}", args=[pid])).status_code == 404
    assert state_of(application) == State.DRAFT


def test_decline_shows_reasons_and_takes_an_appeal(client, member, level, registrar):
    application = recommended(member, level, registrar, "decline")
    services.application_decide(
        application=application, actor=registrar, approve=False, reasons="Too little evidence."
    )
    client.force_login(member.user)
    page = client.get(detail_url(application))
    assert "Too little evidence." in text(page)
    assert "Appeal the decision" in text(page)
    response = client.post(
        reverse("accreditation:appeal", args=[application.public_id]),
        {"grounds": "The assessor missed my budget work."},
    )
    assert response.status_code == 302
    assert state_of(application) == State.APPEALED
    assert "The assessor missed my budget work." in text(client.get(detail_url(application)))


def test_the_member_answers_an_information_request(client, member, level, registrar):
    from tests.accreditation.builders import assign

    application = services.application_submit(application=ready(member, level))
    assignment = assign(application, registrar)
    services.information_request(
        assignment=assignment, actor=assignment.assessor, question="Which budget?"
    )
    client.force_login(member.user)
    page = client.get(detail_url(application))
    assert "Which budget?" in text(page)
    standard = application.statements.first().standard
    statement_url = reverse("accreditation:statement", args=[application.public_id, standard.pk])
    assert statement_url in page.content.decode()
    client.post(statement_url, {"statement": "Now with the budget figures."})
    assert application.statements.get(standard=standard).statement == "Now with the budget figures."
    response = client.post(
        reverse("accreditation:information_respond", args=[application.public_id]),
        {"response": "The outpatients budget."},
    )
    assert response.status_code == 302
    assert state_of(application) == State.IN_ASSESSMENT


def test_the_member_replaces_a_referee_who_declined(signed_in, client, member, level):
    application = services.application_create(member=member, level=level)
    referee, token = services.referee_invite(
        application=application, name="Dr Ada Lane", email="ada@example.org"
    )
    url = reverse("accreditation:referee_replace", args=[application.public_id, referee.public_id])
    assert signed_in.get(url).status_code == 404  # still waiting: nothing to replace
    services.referee_respond(token=token, confirm=False, comment="Not my team.")

    page = text(signed_in.get(detail_url(application)))
    assert "Declined on" in page and url in page
    refused = signed_in.post(url, {"name": "", "email": "not-an-email"})
    assert refused.status_code == 400 and "There is a problem" in text(refused)
    response = signed_in.post(url, {"name": "Dr Ben Cole", "email": "ben@example.org"})
    assert response.status_code == 302
    page = text(signed_in.get(detail_url(application)))
    assert "Replaced on" in page and "Dr Ben Cole" in page
    assert mail.outbox[-1].to == ["ben@example.org"]
    # Another member cannot reach it.
    client.force_login(MemberFactory().user)
    assert client.get(url).status_code == 404
