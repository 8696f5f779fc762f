"""Accounts in a real browser: sign-up to sign-out, and every second factor.

Elements are found by label, role and accessible name (and links by the URL
they point at), so the tests follow the pages through design changes.
"""

import re
from urllib.parse import urlsplit

import pytest
from allauth.account.models import EmailAddress
from allauth.mfa.models import Authenticator
from allauth.mfa.recovery_codes.internal.auth import RecoveryCodes
from allauth.mfa.totp.internal.auth import SECRET_SESSION_KEY
from django.conf import settings
from django.contrib.sessions.backends.db import SessionStore
from django.core import mail
from django.urls import reverse
from playwright.sync_api import expect

from members.models import User
from tests.e2e.conftest import (
    CODE,
    EMAIL,
    PASSWORD,
    SIGN_IN,
    at,
    field_label,
    heading,
    link_to,
    main,
    sign_in,
    sign_in_with_code,
    sign_out,
)
from tests.factories import TEST_PASSWORD, StaffFactory, UserFactory
from tests.totp import current_code

pytestmark = pytest.mark.browser


PASSWORD_AGAIN = field_label(
    r"password \(again\)|confirm (your )?password|re-?enter (your )?password"
)
GIVEN_NAME = field_label("given name|first name")
FAMILY_NAME = field_label("family name|last name|surname")
SIGN_UP = re.compile(r"^(sign up|create (an |your )?account|continue|register)$", re.IGNORECASE)


def reauthenticate_if_asked(page, axe, url_name, password=TEST_PASSWORD):
    """Wait until the browser reaches url_name, confirming the password on the way if asked.

    allauth asks for it before any change to second factors, unless the user
    re-entered it in the last few minutes; a plain sign-in does not count.
    """
    reauthenticate = reverse("account_reauthenticate")
    target = reverse(url_name)
    page.wait_for_url(lambda url: urlsplit(url).path in {reauthenticate, target})
    if urlsplit(page.url).path == reauthenticate:
        axe(page)
        main(page).get_by_label(PASSWORD).fill(password)
        main(page).get_by_role("button", name=re.compile(r"confirm|continue", re.I)).click()
    expect(page).to_have_url(at(url_name, exact=False))


def session_value(context, key):
    cookie = next(c for c in context.cookies() if c["name"] == settings.SESSION_COOKIE_NAME)
    return SessionStore(session_key=cookie["value"]).get(key)


def visible_text_and_values(page):
    """Everything a person can read on the page, inputs included, without spaces."""
    text = page.evaluate(
        "() => document.body.innerText + ' ' +"
        " Array.from(document.querySelectorAll('input, textarea'), e => e.value).join(' ')"
    )
    return re.sub(r"\s+", "", text)


def activate_totp(page, context, axe):
    """From the authenticator-app set-up page, activate it and land on recovery codes."""
    axe(page)
    secret = session_value(context, SECRET_SESSION_KEY)
    assert secret, "no TOTP secret in the session on the set-up page"
    assert secret.upper() in visible_text_and_values(page).upper(), (
        "the set-up page must show the secret for people who cannot scan the QR code"
    )
    main(page).get_by_label(CODE).fill(current_code(secret))
    main(page).get_by_role(
        "button", name=re.compile(r"activate|continue|confirm|set up|turn on|save", re.I)
    ).click()
    expect(page).to_have_url(at("mfa_view_recovery_codes", exact=False))
    axe(page)
    return secret


def assert_recovery_codes_shown(page, user):
    authenticator = Authenticator.objects.get(user=user, type=Authenticator.Type.RECOVERY_CODES)
    codes = RecoveryCodes(authenticator).get_unused_codes()
    assert len(codes) >= 8
    shown = visible_text_and_values(page)
    missing = [code for code in codes if code not in shown]
    assert not missing, f"recovery codes not shown on the page: {missing}"


def test_sign_up_verify_sign_in_and_out(page, axe, live_server):
    page.goto("/")
    axe(page)
    page.get_by_role("banner").get_by_role("link", name="Create an account").click()
    expect(page).to_have_url(at("account_signup", exact=False))
    axe(page)

    form = main(page)
    form.get_by_label(GIVEN_NAME).fill("Aisha")
    form.get_by_label(FAMILY_NAME).fill("Okonkwo-Hughes")
    form.get_by_label(EMAIL).fill("aisha.okonkwo@example.nhs.uk")
    form.get_by_label(PASSWORD).fill("a long and unusual passphrase 42")
    form.get_by_label(PASSWORD_AGAIN).fill("a long and unusual passphrase 42")
    form.get_by_role("button", name=SIGN_UP).click()

    expect(page).to_have_url(at("account_email_verification_sent", exact=False))
    expect(heading(page)).to_contain_text(re.compile(r"verify|confirm|check", re.I))
    axe(page)

    user = User.objects.get(email="aisha.okonkwo@example.nhs.uk")
    assert (user.given_name, user.family_name) == ("Aisha", "Okonkwo-Hughes")
    assert not EmailAddress.objects.get(user=user).verified
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == ["aisha.okonkwo@example.nhs.uk"]
    prefix = f"{live_server.url}/accounts/confirm-email/"
    links = re.findall(re.escape(prefix) + r"\S+/", message.body)
    assert len(links) == 1, (
        f"expected one verification link in the plain-text body:\n{message.body}"
    )
    assert "<a " not in message.body, "the plain-text body must not be HTML"

    page.goto(links[0])
    axe(page)
    main(page).get_by_role("button", name=re.compile(r"confirm|verify", re.I)).click()
    expect(page).to_have_url(at("account_login", exact=False))
    assert EmailAddress.objects.get(user=user).verified

    axe(page)
    main(page).get_by_label(EMAIL).fill("aisha.okonkwo@example.nhs.uk")
    main(page).get_by_label(PASSWORD).fill("a long and unusual passphrase 42")
    main(page).get_by_role("button", name=SIGN_IN).click()

    expect(page).to_have_url(at("dashboard"))
    expect(heading(page)).to_have_text("Welcome, Aisha")
    expect(main(page)).to_contain_text("Aisha Okonkwo-Hughes")
    axe(page)

    sign_out(page)
    axe(page)
    page.goto(reverse("dashboard"))
    expect(page).to_have_url(at("account_login", exact=False))
    axe(page)

    assert axe.unchecked_pages() == []


def test_member_sets_up_an_authenticator_app(page, context, axe, totp_tolerance):
    user = UserFactory(given_name="Priya")
    sign_in(page, axe, user.email)
    expect(heading(page)).to_have_text("Welcome, Priya")
    axe(page)

    page.get_by_role("banner").get_by_role("link", name="Two-factor authentication").click()
    expect(page).to_have_url(at("mfa_index"))
    axe(page)
    link_to(page, "mfa_activate_totp").click()
    reauthenticate_if_asked(page, axe, "mfa_activate_totp")
    activate_totp(page, context, axe)

    assert Authenticator.objects.filter(user=user, type=Authenticator.Type.TOTP).exists()
    assert_recovery_codes_shown(page, user)

    assert axe.unchecked_pages() == []


def test_member_adds_a_security_key(page, context, axe):
    user = UserFactory()
    cdp = context.new_cdp_session(page)
    cdp.send("WebAuthn.enable")
    authenticator_id = cdp.send(
        "WebAuthn.addVirtualAuthenticator",
        {
            "options": {
                "protocol": "ctap2",
                "transport": "usb",
                "hasResidentKey": True,
                "hasUserVerification": True,
                "isUserVerified": True,
                "automaticPresenceSimulation": True,
            }
        },
    )["authenticatorId"]
    sign_in(page, axe, user.email)
    expect(heading(page)).to_contain_text("Welcome")
    axe(page)

    page.goto(reverse("mfa_add_webauthn"))
    reauthenticate_if_asked(page, axe, "mfa_add_webauthn")
    axe(page)
    main(page).get_by_label(re.compile(r"name", re.I)).fill("Work laptop key")
    main(page).get_by_role("button", name=re.compile(r"^add", re.I)).click()

    # The first authenticator also creates recovery codes, which are shown once.
    expect(page).to_have_url(at("mfa_view_recovery_codes", exact=False))
    axe(page)
    key = Authenticator.objects.get(user=user, type=Authenticator.Type.WEBAUTHN)
    assert key.wrap().name == "Work laptop key"
    credentials = cdp.send("WebAuthn.getCredentials", {"authenticatorId": authenticator_id})
    assert len(credentials["credentials"]) == 1

    page.goto(reverse("mfa_list_webauthn"))
    expect(main(page)).to_contain_text("Work laptop key")
    axe(page)

    assert axe.unchecked_pages() == []


def test_staff_must_set_up_mfa_before_admin(page, context, axe, totp_tolerance):
    staff = StaffFactory(given_name="Morgan")
    sign_in(page, axe, staff.email)
    expect(page).to_have_url(at("mfa_required"))
    axe(page)

    page.goto(reverse("admin:index"))
    expect(page).to_have_url(at("mfa_required"))
    axe(page)

    link_to(page, "mfa_activate_totp").click()
    reauthenticate_if_asked(page, axe, "mfa_activate_totp")
    secret = activate_totp(page, context, axe)
    assert_recovery_codes_shown(page, staff)

    sign_out(page)
    axe(page)
    sign_in_with_code(page, axe, staff.email, secret)
    axe(page)

    page.goto(reverse("admin:index"))
    expect(page).to_have_url(at("admin:index"))
    expect(page.get_by_role("heading", name="Site administration")).to_be_visible()
    axe(page)

    assert axe.unchecked_pages() == []
