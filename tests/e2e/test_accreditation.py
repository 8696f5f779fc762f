"""An assessor signs in with their authenticator app, accepts an assignment
declaring no conflict, reads the portfolio and submits an assessment; axe is
clean on every page visited."""

import re

from django.urls import reverse
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
