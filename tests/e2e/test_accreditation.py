"""An assessor signs in with their authenticator app, accepts an assignment
declaring no conflict, reads the portfolio and submits an assessment; axe is
clean on every page visited."""

import datetime as dt
import re

from django.urls import reverse
from django.utils import timezone
from playwright.sync_api import expect

from accreditation import services
from accreditation.models import Application, Scheme
from cpd.models import Domain, Framework, Standard
from members.models import Organisation, Status
from tests.accreditation.builders import make_level, ready, state_of
from tests.e2e.conftest import at, heading, main, sign_in_with_code
from tests.factories import AssessorFactory, MemberFactory, StaffFactory
from tests.totp import enable_totp


def _application():
    framework = Framework.objects.create(
        key="ihsm", name="Our standards", short_name="IHSM", status=Framework.Status.CURRENT
    )
    people = Domain.objects.create(framework=framework, code="D1", title="Leading people")
    standards = [
        Standard.objects.create(framework=framework, domain=people, code="D1.1", title="Teams"),
        Standard.objects.create(framework=framework, domain=people, code="D1.2", title="Coaching"),
    ]
    scheme = Scheme.objects.create(name="Accredited Manager", slug="accredited-manager")
    level = make_level(scheme, standards)
    trust = Organisation.objects.get_or_create(name="Northshire NHS Foundation Trust")[0]
    member = MemberFactory(
        status=Status.ACTIVE,
        organisation=trust,
        organisation_other="",
        user__given_name="Priya",
        user__family_name="Shah",
    )
    return services.application_submit(application=ready(member, level)), standards


def test_assessor_accepts_and_assesses_an_application(page, axe, totp_tolerance):
    application, standards = _application()
    assessor = AssessorFactory(given_name="Sam", family_name="Adeyemi")
    secret = enable_totp(assessor)
    services.assessor_assign(application=application, assessor=assessor, actor=StaffFactory())

    sign_in_with_code(page, axe, assessor.email, secret)
    axe(page)
    page.goto(reverse("accreditation_assess:queue"))
    axe(page)
    queue = main(page).locator("#queue")
    expect(queue).to_contain_text("Priya Shah")
    expect(queue).to_contain_text("0 working days")
    queue.get_by_role("link", name="Priya Shah").click()
    expect(page).to_have_url(
        at("accreditation_assess:application", public_id=application.public_id)
    )
    axe(page)
    expect(main(page)).to_contain_text("How I meet D1.1.")
    expect(main(page)).to_contain_text("Seen it myself.")

    # Accepting without the declaration is refused with an error on the page.
    main(page).get_by_role("button", name="Accept the assignment").click()
    expect(main(page).locator(".nhsuk-error-summary")).to_contain_text("no conflict of interest")
    axe(page)
    main(page).get_by_label("I have no conflict of interest with this applicant").check()
    main(page).get_by_role("button", name="Accept the assignment").click()
    expect(
        page.locator(".nhsuk-notification-banner, [role=alert], [role=status]").first
    ).to_be_visible()
    axe(page)

    form = main(page).locator("#assessment")
    for standard, judgement in zip(standards, ("Met", "Partly met"), strict=True):
        group = form.get_by_role("group", name=re.compile(standard.code))
        group.get_by_label(judgement, exact=True).check()
        form.get_by_label(f"{standard.code} {standard.title}: comment").fill("Clear evidence.")
    form.get_by_role("group", name="Your overall recommendation").get_by_label("Approve").check()
    form.get_by_label("Reasons for your recommendation").fill("Shows the standards in practice.")
    form.get_by_role("button", name="Submit the assessment").click()
    expect(page).to_have_url(at("accreditation_assess:queue"))
    axe(page)
    expect(heading(page)).to_have_text("Accreditation applications to assess")
    expect(main(page)).to_contain_text("Nothing is waiting for you.")
    assert state_of(application) == Application.State.RECOMMENDED
    assert not axe.unchecked_pages()


def test_member_applies_a_referee_confirms_and_the_member_reads_the_decision(page, axe, watch):
    """The member's side: start, write, invite a referee, who answers through the
    emailed link without an account; submit; then read the decision and appeal."""
    from django.core import mail

    from tests.accreditation.builders import assess, assign, log_cpd
    from tests.e2e.conftest import sign_in, sign_out
    from tests.e2e.test_cpd import fill_date

    framework = Framework.objects.create(
        key="ihsm", name="Our standards", short_name="IHSM", status=Framework.Status.CURRENT
    )
    people = Domain.objects.create(framework=framework, code="D1", title="Leading people")
    standards = [
        Standard.objects.create(framework=framework, domain=people, code="D1.1", title="Teams"),
        Standard.objects.create(framework=framework, domain=people, code="D1.2", title="Coaching"),
    ]
    scheme = Scheme.objects.create(name="Accredited Manager", slug="accredited-manager")
    level = make_level(scheme, standards, referees_required=1)
    member = MemberFactory(
        status=Status.ACTIVE,
        period_ends_on=timezone.localdate() + dt.timedelta(days=200),
        user__given_name="Priya",
        user__family_name="Shah",
    )
    log_cpd(member, hours=12)

    sign_in(page, axe, member.user.email)
    expect(page).to_have_url(at("dashboard"))
    axe(page)
    page.goto(reverse("accreditation:index"))
    axe(page)
    main(page).get_by_label(str(level)).check()
    main(page).get_by_role("button", name="Start an application").click()
    application = Application.objects.get(member=member)
    expect(page).to_have_url(at("accreditation:detail", public_id=application.public_id))
    axe(page)
    expect(main(page).locator("#missing")).to_contain_text("Write a career summary.")

    main(page).get_by_role("link", name="Change your career summary").click()
    axe(page)
    fill_date(
        page, "When did you start in a management role?", timezone.localdate().replace(year=2018)
    )
    main(page).get_by_label("Career summary").fill("Eight years running outpatient services.")
    main(page).get_by_role("button", name="Save").click()
    expect(page).to_have_url(at("accreditation:detail", public_id=application.public_id))
    axe(page)

    for standard in standards:
        main(page).get_by_role("link", name=f"Write your statement for {standard.code}").click()
        axe(page)
        main(page).get_by_label("Your statement").fill(f"How I meet {standard.code} every week.")
        main(page).get_by_label("Leading change", exact=False).first.check()
        main(page).get_by_role("button", name="Save statement").click()
        expect(page).to_have_url(at("accreditation:detail", public_id=application.public_id))
        axe(page)

    # Submitting too early lists what is still missing.
    main(page).get_by_role("button", name="Submit application").click()
    expect(main(page).locator(".nhsuk-error-summary")).to_contain_text("referees to confirm")
    axe(page)
    # The refusal is answered with 400, which Chromium reports; that one is expected.
    watch.console_errors[:] = [e for e in watch.console_errors if "/submit/" not in e]

    main(page).get_by_label("Referee's full name").fill("Dr Sam Patel")
    main(page).get_by_label("Referee's email address").fill("sam.patel@example.org")
    main(page).get_by_role("button", name="Send the invitation").click()
    expect(main(page).locator("#referees")).to_contain_text("Waiting for an answer")
    axe(page)

    # The referee, signed in as no one, follows the emailed link.
    path = re.search(r"/accreditation/referee/\S+/", mail.outbox[-1].body).group(0)
    sign_out(page)
    axe(page)
    page.goto(path)
    axe(page)
    expect(main(page)).to_contain_text("How I meet D1.1 every week.")
    main(page).get_by_label("Yes, I confirm them").check()
    main(page).get_by_label("Comment (optional)").fill("I managed Priya for three years.")
    main(page).get_by_role("button", name="Send your answer").click()
    expect(heading(page)).to_have_text("Thank you, Dr Sam Patel")
    axe(page)

    sign_in(page, axe, member.user.email)
    expect(page).to_have_url(at("dashboard"))
    axe(page)
    page.goto(reverse("accreditation:detail", args=[application.public_id]))
    axe(page)
    expect(main(page).locator("#referees")).to_contain_text("Confirmed on")
    expect(main(page).locator("#missing")).to_contain_text("Ready to submit")
    main(page).get_by_role("button", name="Submit application").click()
    expect(main(page).locator("#state")).to_have_text("Submitted")
    axe(page)

    registrar = StaffFactory()
    assess(assign(application, registrar), "decline", judgement="partly_met")
    services.application_decide(
        application=application,
        actor=registrar,
        approve=False,
        reasons="D1.2 needs an example of coaching someone through a change.",
    )
    page.reload()
    expect(main(page).locator("#decision")).to_contain_text("D1.2 needs an example of coaching")
    axe(page)
    main(page).get_by_role("link", name="Appeal the decision").click()
    axe(page)
    main(page).get_by_label("Your grounds for appeal").fill("My coaching log was not read.")
    main(page).get_by_role("button", name="Lodge appeal").click()
    expect(main(page).locator("#state")).to_have_text("Appealed")
    axe(page)
    assert state_of(application) == Application.State.APPEALED
    assert not axe.unchecked_pages()
