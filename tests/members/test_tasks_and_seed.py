import pytest
from allauth.mfa.models import Authenticator
from django.core import mail
from django.core.management import call_command
from django.urls import reverse
from django_tasks_db.models import DBTaskResult

from members.models import GradeChange, Invoice, Member, User
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


# The worker closes database connections between tasks, so no wrapping transaction.
@pytest.mark.django_db(transaction=True)
def test_emails_wait_in_the_database_queue_until_the_worker_sends_them(client, settings):
    settings.TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}
    user = UserFactory()

    client.post(reverse("account_reset_password"), {"email": user.email})

    assert mail.outbox == []
    task = DBTaskResult.objects.get()
    assert task.task_path == "members.tasks.send_email"
    assert task.args_kwargs["kwargs"]["to"] == [user.email]

    call_command("db_worker", "--batch", "--no-startup-delay", "--queue-name", "*", verbosity=0)

    assert [m.to for m in mail.outbox] == [[user.email]]
    assert "/accounts/password/reset/key/" in mail.outbox[0].body
    task.refresh_from_db()
    assert task.status == "SUCCESSFUL"


def test_seed_demo_is_idempotent_and_prints_logins(capsys):
    call_command("seed_demo")
    first = capsys.readouterr().out
    call_command("seed_demo")
    second = capsys.readouterr().out

    # The same accounts, printed the same way; the share link is shown only when made.
    assert second in first and "/cpd/shared/" in first and "/cpd/shared/" not in second
    assert User.objects.count() == 7
    registrar = User.objects.get(email="registrar@example.org")
    assert registrar.is_staff and registrar.check_password("demo-password-2026")
    assert User.objects.get(email="assessor@example.org").is_assessor
    # Staff and assessor get one authenticator app each, and its secret is printed.
    assert Authenticator.objects.filter(type=Authenticator.Type.TOTP).count() == 2
    assert first.count("TOTP secret: ") == 2
    assert "member@example.org" in first and "employer@example.org" in first
    # Members at three stages of joining, created once.
    statuses = dict(Member.objects.values_list("user__email", "status"))
    assert statuses == {
        "member@example.org": "active",
        "member2@example.org": "applicant",
        "member3@example.org": "applicant",
        "member4@example.org": "active",
    }
    assert Member.objects.get(user__email="member@example.org").membership_number
    assert Invoice.objects.filter(state="open").count() == 1
    assert GradeChange.objects.filter(state="pending").count() == 1
    call_command("audit_verify")
    # An accredited member: a valid certificate whose verification page is printed each time.
    from accreditation.models import Certificate

    certificate = Certificate.objects.get(member__user__email="member4@example.org")
    assert certificate.status == "valid" and certificate.level.post_nominals == "AccM"
    assert f"/verify/{certificate.public_id}" in second
    # A year of CPD for the active member, mapped to the standards, some with evidence.
    from cpd.models import Entry, Evidence

    entries = Entry.objects.filter(member__user__email="member@example.org")
    assert entries.count() == 16  # this year and enough last year to meet the requirement
    assert all(e.standards.exists() for e in entries)
    assert Evidence.objects.count() == 4
    active = Member.objects.get(user__email="member@example.org")
    assert active.periods.count() == 2 and active.status == "active"
    # Last year's return submitted, shared, sampled and sent back for more information.
    assert active.annual_returns.get().state == "submitted"
    assert active.annual_returns.get().meets_requirement
    assert active.share_links.count() == 1
    assert active.audit_cases.get().state == "more_information"
    # An accreditation application drafted, with a referee invited by link.
    application = active.applications.get()
    assert application.state == "draft"
    assert application.referees.count() == 1
    assert "/accreditation/referee/" in first
    # The demo can go on by hand: once the referee confirms, the application is ready to submit.
    from accreditation.services import application_eligibility_failures, referee_respond

    token = first.split("/accreditation/referee/")[1].split("/")[0]
    referee_respond(token=token, confirm=True, comment="Megan leads her service well.")
    assert application_eligibility_failures(application=application) == []


def test_seed_demo_refuses_to_run_in_production(settings):
    settings.PRODUCTION = True
    with pytest.raises(Exception, match="not in production"):
        call_command("seed_demo")
