"""Sharing a CPD portfolio by link, and the personal development plan."""

import datetime as dt
import re
from html import unescape
from unittest import mock

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone

from audit.models import Action, AuditEvent
from cpd import services, sharing
from cpd.models import Goal, ShareLink, ShareView
from cpd.selectors import cpd_year_starting
from members import services as member_services
from tests.cpd.test_pages import PDF, make_frameworks, make_member

pytestmark = pytest.mark.django_db

TODAY = dt.date(2026, 11, 16)


@pytest.fixture(autouse=True)
def today():
    with mock.patch.object(member_services, "local_today", return_value=TODAY):
        yield


@pytest.fixture
def standards():
    return make_frameworks()


def log(member, title, ends_on, *, standards=(), files=()):
    return services.cpd_entry_create(
        member=member,
        actor=member.user,
        title=title,
        starts_on=ends_on,
        ends_on=ends_on,
        hours="2",
        activity_type="formal",
        participatory=True,
        reflection_learned="Budgets",
        standards=standards,
        files=files,
    )


@pytest.fixture
def member(standards):
    member = make_member()
    log(
        member,
        "Finance for managers",
        dt.date(2026, 6, 1),
        standards=[standards["D2.1"]],
        files=[SimpleUploadedFile("certificate.pdf", PDF, content_type="application/pdf")],
    )
    log(member, "Coaching course", dt.date(2025, 6, 1), standards=[standards["D1.2"]])
    return member


def make_link(client, member, *, scope="all", days="30", evidence="no", label="Appraisal"):
    client.force_login(member.user)
    response = client.post(
        reverse("cpd:sharing"),
        {"label": label, "scope": scope, "expires_in_days": days, "include_evidence": evidence},
    )
    assert response.status_code == 302, response.text
    page = client.get(reverse("cpd:sharing")).text
    url = unescape(re.search(r'id="new-link-url"[^>]*value="([^"]+)"', page).group(1))
    client.logout()
    return url.removeprefix("http://testserver"), ShareLink.objects.get(label=label)


def test_a_member_makes_a_link_that_is_shown_once_and_stored_as_a_hash(client, member):
    path, link = make_link(client, member)
    token = path.split("/")[-2]
    assert link.token_hash == sharing.share_token_hash(token)
    assert token not in link.token_hash
    assert timezone.now() + dt.timedelta(days=29) < link.expires_at
    assert link.expires_at <= timezone.now() + dt.timedelta(days=30)
    event = AuditEvent.objects.get(action=Action.CPD_SHARE_LINK_CREATED)
    assert event.subject_id == str(link.public_id) and token not in str(event.after)

    client.force_login(member.user)
    again = client.get(reverse("cpd:sharing")).text
    assert token not in again and "Appraisal" in again and "Not yet" in again


def test_the_shared_page_needs_no_sign_in_and_every_view_is_logged(client, member):
    path, link = make_link(client, member)
    response = client.get(path, REMOTE_ADDR="203.0.113.9", HTTP_USER_AGENT="Appraiser browser")
    page = response.text
    assert response.status_code == 200
    assert member.user.get_full_name() in page
    assert "Finance for managers" in page and "Coaching course" in page
    assert "Progress against the yearly requirement" in page
    assert response["X-Robots-Tag"] == "noindex, nofollow"
    assert '<meta name="robots" content="noindex, nofollow">' in page
    client.get(path)
    views = list(ShareView.objects.filter(link=link))
    assert len(views) == 2
    assert {v.ip_address for v in views} == {"203.0.113.9", "127.0.0.1"}

    client.force_login(member.user)
    sharing_page = client.get(reverse("cpd:sharing")).text
    assert "2 times" in sharing_page and "203.0.113.9" in sharing_page


def test_a_link_to_one_year_shows_only_that_year(client, member):
    path, _ = make_link(client, member, scope="2026")
    page = client.get(path).text
    assert "Finance for managers" in page and "Coaching course" not in page
    assert "2026/27" in page


def test_an_expired_link_is_gone(client, member):
    path, link = make_link(client, member, days="7")
    ShareLink.objects.filter(pk=link.pk).update(expires_at=timezone.now() - dt.timedelta(seconds=1))
    response = client.get(path)
    assert response.status_code == 410
    assert "The link has expired" in response.text
    assert "Finance for managers" not in response.text
    assert not ShareView.objects.exists()


def test_a_revoked_link_is_gone_at_once_and_revoking_twice_changes_nothing(client, member):
    path, link = make_link(client, member)
    assert client.get(path).status_code == 200
    client.force_login(member.user)
    client.post(reverse("cpd:share_revoke", args=[link.public_id]))
    client.post(reverse("cpd:share_revoke", args=[link.public_id]))
    client.logout()
    response = client.get(path)
    assert response.status_code == 410 and "turned it off" in response.text
    assert AuditEvent.objects.filter(action=Action.CPD_SHARE_LINK_REVOKED).count() == 1
    link.refresh_from_db()
    assert link.revoked_at is not None


def test_an_unknown_token_is_not_found(client, member):
    make_link(client, member)
    response = client.get(reverse("cpd:shared", args=["not-a-real-token"]))
    assert response.status_code == 404 and "Link not found" in response.text


def test_evidence_is_downloadable_only_when_the_link_includes_it(client, member):
    evidence = member.cpd_entries.get(title="Finance for managers").evidence.get()
    without, _ = make_link(client, member, label="Without")
    with_evidence, _ = make_link(client, member, evidence="yes", label="With")

    assert "certificate.pdf" not in client.get(without).text
    assert client.get(f"{without}evidence/{evidence.public_id}/").status_code == 404

    assert "certificate.pdf" in client.get(with_evidence).text
    response = client.get(f"{with_evidence}evidence/{evidence.public_id}/")
    assert response.status_code == 200
    assert b"".join(response.streaming_content) == PDF
    assert response["X-Robots-Tag"] == "noindex, nofollow"


def test_evidence_outside_a_shared_year_is_not_reachable(client, member, standards):
    old = log(
        member,
        "Old course",
        dt.date(2025, 5, 1),
        files=[SimpleUploadedFile("old.pdf", PDF, content_type="application/pdf")],
    )
    path, _ = make_link(client, member, scope="2026", evidence="yes")
    response = client.get(f"{path}evidence/{old.evidence.get().public_id}/")
    assert response.status_code == 404


def test_a_token_never_reaches_another_members_data(client, member, standards):
    other = make_member()
    other_entry = log(
        other,
        "Someone else's secret course",
        dt.date(2026, 7, 1),
        files=[SimpleUploadedFile("theirs.pdf", PDF, content_type="application/pdf")],
    )
    path, _ = make_link(client, member, evidence="yes")
    page = client.get(path).text
    assert "Someone else" not in page and other.user.get_full_name() not in page
    theirs = other_entry.evidence.get()
    assert client.get(f"{path}evidence/{theirs.public_id}/").status_code == 404

    # Nor can one member revoke another's link.
    _, other_link = make_link(client, other, label="Theirs")
    client.force_login(member.user)
    assert client.post(reverse("cpd:share_revoke", args=[other_link.public_id])).status_code == 404
    other_link.refresh_from_db()
    assert other_link.revoked_at is None


def test_expiry_must_be_one_of_the_offered_choices(member):
    with pytest.raises(services.CPDError):
        sharing.share_link_create(member=member, actor=member.user, label="x", expires_in_days=365)


# --- The development plan ------------------------------------------------------------------


def test_a_member_adds_a_goal_and_links_entries_to_it(client, member, standards):
    client.force_login(member.user)
    response = client.post(
        reverse("cpd:goal_add"),
        {
            "title": "Lead a budget review",
            "description": "With the finance team",
            "target_on_day": "1",
            "target_on_month": "12",
            "target_on_year": "2026",
            "state": "in_progress",
            "standards": [standards["D2.1"].pk],
        },
    )
    goal = Goal.objects.get()
    assert response.status_code == 302, response.text
    assert goal.member == member and goal.state == "in_progress"
    assert list(goal.standards.values_list("code", flat=True)) == ["D2.1"]

    entry = member.cpd_entries.get(title="Finance for managers")
    other_entry = log(make_member(), "Not mine", dt.date(2026, 7, 1))
    page = client.get(reverse("cpd:goal", args=[goal.public_id])).text
    assert "Finance for managers" in page and "Not mine" not in page
    client.post(reverse("cpd:goal", args=[goal.public_id]), {"entries": [other_entry.public_id]})
    assert not goal.entries.exists()
    client.post(reverse("cpd:goal", args=[goal.public_id]), {"entries": [entry.public_id]})
    assert list(goal.entries.all()) == [entry]
    assert AuditEvent.objects.filter(
        action=Action.CPD_GOAL_UPDATED, subject_id=str(goal.public_id)
    ).exists()


def test_the_plan_highlights_goals_due_soon(client, member):
    due = sharing.goal_create(
        member=member, actor=member.user, title="Due goal", target_on=TODAY + dt.timedelta(days=10)
    )
    sharing.goal_create(
        member=member, actor=member.user, title="Later goal", target_on=TODAY + dt.timedelta(200)
    )
    sharing.goal_create(
        member=member,
        actor=member.user,
        title="Finished goal",
        target_on=TODAY,
        state=Goal.State.DONE,
    )
    assert list(sharing.goals_due(member=member, today=TODAY)) == [due]
    client.force_login(member.user)
    page = client.get(reverse("cpd:plan")).text
    callout = page.split('id="goals-due"')[1].split("</div>")[0]
    assert "Due goal" in callout
    assert "Later goal" not in callout and "Finished goal" not in callout
    assert "Later goal" in page


def test_another_members_goal_is_not_found(client, member):
    goal = sharing.goal_create(member=make_member(), actor=None, title="Theirs", target_on=TODAY)
    client.force_login(member.user)
    assert client.get(reverse("cpd:goal", args=[goal.public_id])).status_code == 404
    assert client.get(reverse("cpd:goal_edit", args=[goal.public_id])).status_code == 404


def test_share_links_year_scope(member):
    link, _ = sharing.share_link_create(
        member=member,
        actor=member.user,
        label="One year",
        expires_in_days=7,
        year=cpd_year_starting(2025),
    )
    portfolio = sharing.shared_portfolio(link=link, today=TODAY)
    assert [e.title for e in portfolio.entries] == ["Coaching course"]
