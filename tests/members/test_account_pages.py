"""Every allauth page is drawn in our design, is accessible, and says what it should.

Each page is fetched as the kind of person who can reach it, then checked for
the site layout, a single h1, a "<page> - <site>" title (en dash), a label for every
input, no empty links or buttons, and the content that page exists to show.
"""

import re
from html.parser import HTMLParser

import pytest
from allauth.account.models import EmailAddress
from allauth.mfa.models import Authenticator
from allauth.mfa.recovery_codes.internal.auth import RecoveryCodes
from allauth.mfa.totp.internal.auth import SECRET_SESSION_KEY
from allauth.mfa.webauthn.internal.auth import WebAuthn
from django import forms
from django.conf import settings
from django.contrib.auth.models import AnonymousUser
from django.core import mail
from django.template.loader import render_to_string
from django.test import RequestFactory
from django.urls import reverse
from django.utils import timezone

from tests.factories import TEST_PASSWORD, StaffFactory, UserFactory
from tests.totp import current_code, enable_totp

pytestmark = pytest.mark.django_db

VOID_ELEMENTS = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "wbr"}


class Page(HTMLParser):
    """What the accessibility checks need from a page: title, headings, controls, names."""

    def __init__(self, html: str):
        super().__init__(convert_charrefs=True)
        self.title = ""
        self.h1s: list[str] = []
        self.inputs: list[dict] = []
        self.label_targets: set[str] = set()
        self.unnamed: list[str] = []
        self.ids: list[str] = []
        self._open: list[list] = []  # [tag, attrs, text] for title, h1, a, button, label
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if attrs.get("id"):
            self.ids.append(attrs["id"])
        if tag in {"input", "textarea", "select"}:
            self.inputs.append({"tag": tag, **attrs})
        if tag == "label" and attrs.get("for"):
            self.label_targets.add(attrs["for"])
        if tag in {"title", "h1", "a", "button", "label"}:
            self._open.append([tag, attrs, ""])

    def handle_endtag(self, tag):
        if tag in VOID_ELEMENTS:
            return
        for index in range(len(self._open) - 1, -1, -1):
            if self._open[index][0] == tag:
                _, attrs, text = self._open.pop(index)
                text = " ".join(text.split())
                if tag == "title":
                    self.title = text
                elif tag == "h1":
                    self.h1s.append(text)
                elif tag in {"a", "button"} and not (text or attrs.get("aria-label")):
                    self.unnamed.append(f"<{tag} {attrs}>")
                break

    def handle_data(self, data):
        for element in self._open:
            element[2] += data

    def unlabelled_inputs(self) -> list[dict]:
        return [
            field
            for field in self.inputs
            if field.get("type") not in {"hidden", "submit", "button"}
            and field.get("id") not in self.label_targets
            and not field.get("aria-label")
        ]


def check_page(response, title: str) -> Page:
    """The checks every allauth page must pass; returns the page for page-specific ones."""
    assert response.status_code == 200, response
    html = response.content.decode()
    assert 'class="nhsuk-header' in html, "not drawn in the site layout"
    assert 'id="maincontent"' in html
    page = Page(html)
    assert len(page.h1s) == 1, page.h1s
    assert page.title == f"{title} – {settings.SITE_NAME}"
    assert page.unlabelled_inputs() == []
    assert page.unnamed == []
    duplicates = {i for i in page.ids if page.ids.count(i) > 1}
    assert not duplicates, duplicates
    return page


def sign_in(client, user, password=TEST_PASSWORD):
    """Sign in through the form, so allauth records a fresh authentication."""
    response = client.post(reverse("account_login"), {"login": user.email, "password": password})
    assert response.status_code == 302, response.content.decode()
    return response


@pytest.fixture
def member(client):
    """A signed-in member who has just confirmed their password, as MFA changes require."""
    user = UserFactory(given_name="Grace", family_name="Hopper")
    sign_in(client, user)
    response = client.post(reverse("account_reauthenticate"), {"password": TEST_PASSWORD})
    assert response.status_code == 302
    return user


@pytest.fixture
def member_with_totp(member):
    """A signed-in member who then turned on an authenticator app and has recovery codes."""
    secret = enable_totp(member)
    RecoveryCodes.activate(member)
    return member, secret


def main_of(response) -> str:
    return response.content.decode().split('id="maincontent"', 1)[1].split("</main>", 1)[0]


# --- Pages for people who are not signed in ---------------------------------


def test_sign_in_page_links_to_sign_up_and_password_reset(client):
    page = client.get(reverse("account_login"))
    check_page(page, "Sign in")
    main = main_of(page)
    assert f'href="{reverse("account_signup")}"' in main
    assert f'href="{reverse("account_reset_password")}"' in main
    assert 'class="nhsuk-button"' in main
    assert 'for="id_login"' in main and 'for="id_password"' in main
    # The layout for sign-in pages is a single readable column.
    assert "nhsuk-grid-column-two-thirds" in main
    assert "Account settings" not in main


def test_sign_up_page_asks_for_names_and_links_to_sign_in(client):
    page = client.get(reverse("account_signup"))
    check_page(page, "Create an account")
    main = main_of(page)
    for field in ("given_name", "family_name", "email", "password1", "password2"):
        assert f'id="id_{field}"' in main
    assert f'href="{reverse("account_login")}"' in main
    assert ">Create account</button>" in main


def test_sign_up_confirmation_journey(client):
    response = client.post(
        reverse("account_signup"),
        {
            "given_name": "Mary",
            "family_name": "Seacole",
            "email": "mary@example.org",
            "password1": "a long and unusual password 7",
            "password2": "a long and unusual password 7",
        },
    )
    sent = client.get(response["Location"])
    check_page(sent, "Confirm your email address")
    assert "We have sent you an email with a link" in sent.text

    [message] = mail.outbox
    assert message.subject == f"[{settings.SITE_NAME}] Confirm your email address"
    assert message.content_subtype == "plain" and not message.alternatives
    assert message.body.startswith("Dear Mary,")
    assert f"Thank you for creating an account with {settings.SITE_NAME}." in message.body
    assert message.body.rstrip().endswith(settings.SITE_NAME)
    link = re.search(r"https?://\S+", message.body).group(0)

    confirm = client.get(link)
    check_page(confirm, "Confirm your email address")
    assert "<strong>mary@example.org</strong>" in confirm.text
    assert ">Confirm email address</button>" in confirm.text
    assert not EmailAddress.objects.get(email="mary@example.org").verified

    client.post(link)
    assert EmailAddress.objects.get(email="mary@example.org").verified


def test_confirmation_link_that_is_not_valid_says_so(client):
    page = client.get(reverse("account_confirm_email", args=["not-a-real-key"]))
    check_page(page, "Confirmation link not valid")
    assert "This confirmation link is not valid" in page.text


def test_verification_sent_page(client):
    page = client.get(reverse("account_email_verification_sent"))
    check_page(page, "Confirm your email address")
    assert "check your spam or junk folder" in page.text


def test_password_reset_journey(client):
    user = UserFactory(email="reset@example.org", given_name="Florence")
    page = client.get(reverse("account_reset_password"))
    check_page(page, "Reset your password")
    assert ">Send reset link</button>" in page.text

    response = client.post(reverse("account_reset_password"), {"email": user.email})
    done = client.get(response["Location"])
    check_page(done, "Check your email")

    [message] = mail.outbox
    assert message.subject == f"[{settings.SITE_NAME}] Reset your password"
    assert message.content_subtype == "plain" and not message.alternatives
    assert message.body.startswith("Dear Florence,")
    link = re.search(r"https?://\S+", message.body).group(0)

    # allauth moves the key out of the address into the session, then shows the form.
    form_page = client.get(client.get(link)["Location"])
    page = check_page(form_page, "Choose a new password")
    assert {"id_password1", "id_password2"} <= {field.get("id") for field in page.inputs}
    assert 'id="logout-from-stage"' in form_page.text

    response = client.post(
        form_page.wsgi_request.path,
        {"password1": "a brand new password 99", "password2": "a brand new password 99"},
    )
    check_page(client.get(response["Location"]), "Password changed")
    user.refresh_from_db()
    assert user.check_password("a brand new password 99")


def test_password_reset_link_that_is_not_valid_says_so(client):
    page = client.get(
        reverse("account_reset_password_from_key", kwargs={"uidb36": "zz", "key": "nope"})
    )
    check_page(page, "Reset link not valid")
    assert f'href="{reverse("account_reset_password")}"' in page.text


def test_inactive_account_page(client):
    check_page(client.get(reverse("account_inactive")), "Account not active")


def test_two_factor_step_when_signing_in(client):
    user = UserFactory()
    secret = enable_totp(user)
    response = sign_in(client, user)
    assert response["Location"] == reverse("mfa_authenticate")
    page = client.get(response["Location"])
    check_page(page, "Enter your code")
    html = page.content.decode()
    assert 'id="id_code"' in html
    # allauth's security key hooks survive: the button, its form and its data.
    assert 'id="mfa_webauthn_authenticate"' in html
    assert 'id="webauthn_form"' in html
    assert 'data-allauth-onload="allauth.webauthn.forms.authenticateForm"' in html
    assert 'id="logout-from-stage"' in html

    response = client.post(reverse("mfa_authenticate"), {"code": current_code(secret)})
    assert response["Location"] == reverse("dashboard")


# --- Account settings --------------------------------------------------------


def test_email_page_shows_the_address_with_its_status(client, member):
    page = client.get(reverse("account_email"))
    check_page(page, "Email address")
    main = main_of(page)
    assert member.email in main
    assert '<strong class="nhsuk-tag nhsuk-tag--green">Verified</strong>' in main
    assert '<strong class="nhsuk-tag nhsuk-tag--blue">Primary</strong>' in main
    assert 'for="id_email"' in main and 'name="action_add"' in main
    # Settings pages carry the settings navigation, with this page marked.
    assert 'aria-labelledby="settings-nav-heading"' in main
    assert '<span class="nhsuk-contents-list__current">Email address</span>' in main
    assert f'href="{reverse("mfa_index")}"' in main


def test_email_change_shows_the_pending_address_until_confirmed(client, member):
    client.post(reverse("account_email"), {"action_add": "", "email": "new@example.org"})
    page = client.get(reverse("account_email"))
    check_page(page, "Email address")
    main = main_of(page)
    assert "new@example.org" in main
    assert '<strong class="nhsuk-tag nhsuk-tag--yellow">Not confirmed</strong>' in main
    assert 'form="pending-email"' in main and 'id="pending-email"' in main
    assert 'name="action_send"' in main and 'name="action_remove"' in main
    [message] = mail.outbox
    assert message.to == ["new@example.org"]
    assert "Please confirm that this email address is yours" in message.body


def test_email_page_explains_why_it_cannot_change_with_two_factor_on(client, member_with_totp):
    page = client.get(reverse("account_email"))
    check_page(page, "Email address")
    assert "while two-factor authentication is on" in page.text
    # allauth would refuse the change, so no form is offered that can only fail.
    assert 'name="action_add"' not in page.text


def test_password_change_page(client, member):
    page = client.get(reverse("account_change_password"))
    form = check_page(page, "Change your password")
    assert {"id_oldpassword", "id_password1", "id_password2"} <= {
        field.get("id") for field in form.inputs
    }
    assert '<span class="nhsuk-contents-list__current">Password</span>' in page.text


def test_sign_out_page_asks_first(client, member):
    page = client.get(reverse("account_logout"))
    check_page(page, "Sign out")
    assert "Are you sure you want to sign out?" in page.text
    assert "_auth_user_id" in client.session


def test_reauthentication_page(client, member):
    page = client.get(reverse("account_reauthenticate"))
    check_page(page, "Confirm it's you")
    assert 'id="id_password"' in page.text


# --- Two-factor authentication -----------------------------------------------


def test_two_factor_overview_when_nothing_is_set_up(client, member):
    page = client.get(reverse("mfa_index"))
    check_page(page, "Two-factor authentication")
    main = main_of(page)
    assert main.count('class="nhsuk-summary-list__key"') == 3
    assert main.count('<strong class="nhsuk-tag nhsuk-tag--grey">Off</strong>') == 2
    assert f'href="{reverse("mfa_activate_totp")}"' in main
    assert f'href="{reverse("mfa_add_webauthn")}"' in main
    assert "Not set up" in main


def test_two_factor_overview_with_an_authenticator_app(client, member_with_totp):
    page = client.get(reverse("mfa_index"))
    main = main_of(page)
    check_page(page, "Two-factor authentication")
    assert "Two-factor authentication is on." in main
    assert '<strong class="nhsuk-tag nhsuk-tag--green">On</strong>' in main
    assert "10 of 10 left" in main
    assert f'href="{reverse("mfa_deactivate_totp")}"' in main
    assert f'href="{reverse("mfa_view_recovery_codes")}"' in main


def test_staff_reach_the_overview_and_are_told_why_it_matters(client):
    staff = StaffFactory()
    sign_in(client, staff)
    page = client.get(reverse("mfa_index"))
    check_page(page, "Two-factor authentication")
    assert "you must set up two-factor authentication" in page.text


def test_authenticator_app_set_up_shows_the_secret_and_turns_it_on(client, member):
    page = client.get(reverse("mfa_activate_totp"))
    check_page(page, "Set up an authenticator app")
    secret = client.session[SECRET_SESSION_KEY]
    main = main_of(page)
    assert re.search(
        rf'<code class="[^"]*app-secret[^"]*" id="authenticator_secret">{secret}<', main
    )
    assert 'data-module="nhsuk-code"' in main
    assert re.search(r'<img src="data:image/svg\+xml;base64,[^"]+" alt="QR code[^"]+"', main)
    assert "otpauth://totp/" in main
    assert 'class="nhsuk-back-link"' in page.text
    # The settings navigation marks the section it is in.
    assert 'aria-current="true">Two-factor authentication</a>' in main

    response = client.post(reverse("mfa_activate_totp"), {"code": current_code(secret)})
    assert response["Location"] == reverse("mfa_view_recovery_codes")
    assert Authenticator.objects.filter(user=member, type=Authenticator.Type.TOTP).exists()
    codes = Authenticator.objects.get(user=member, type="recovery_codes").wrap()
    codes_page = client.get(response["Location"])
    assert all(f"<li>{code}</li>" in codes_page.text for code in codes.get_unused_codes())


def test_recovery_codes_are_listed_and_downloadable(client, member_with_totp):
    member, _ = member_with_totp
    codes = Authenticator.objects.get(user=member, type="recovery_codes").wrap()
    page = client.get(reverse("mfa_view_recovery_codes"))
    check_page(page, "Recovery codes")
    listed = re.search(r'<ul class="app-recovery-codes[^"]*"[^>]*>(.*?)</ul>', page.text, re.S)
    assert re.findall(r"<li>(\w+)</li>", listed.group(1)) == codes.get_unused_codes()
    assert f'href="{reverse("mfa_download_recovery_codes")}"' in page.text
    # allauth's copy-to-clipboard hook is kept.
    assert 'id="recovery_codes"' in page.text
    assert 'data-allauth-onload="allauth.recoveryCodes.forms.viewForm"' in page.text

    download = client.get(reverse("mfa_download_recovery_codes"))
    assert download["Content-Type"].startswith("text/plain")
    text = download.content.decode()
    assert text.startswith(f"{settings.SITE_NAME} – recovery codes for {member.email}")
    assert all(code in text for code in codes.get_unused_codes())


def test_generating_new_recovery_codes_warns_first(client, member_with_totp):
    page = client.get(reverse("mfa_generate_recovery_codes"))
    check_page(page, "Get new recovery codes")
    assert "Your current codes will stop working." in page.text
    assert "nhsuk-button--warning" in main_of(page)


def test_turning_off_the_authenticator_app(client, member_with_totp):
    page = client.get(reverse("mfa_deactivate_totp"))
    check_page(page, "Turn off your authenticator app")
    assert "nhsuk-button--warning" in main_of(page)


def test_code_reauthentication_page(client, member_with_totp):
    page = client.get(reverse("mfa_reauthenticate"))
    check_page(page, "Confirm it's you")
    assert 'id="id_code"' in page.text
    assert f'href="{reverse("account_reauthenticate")}' in page.text


def test_add_security_key_page_keeps_allauths_hooks(client, member):
    page = client.get(reverse("mfa_add_webauthn"))
    check_page(page, "Add a security key")
    html = page.content.decode()
    assert 'id="mfa_webauthn_add"' in html
    assert 'id="id_credential"' in html and 'type="hidden"' in html
    assert '<script id="js_data" type="application/json">' in html
    assert 'data-allauth-onload="allauth.webauthn.forms.addForm"' in html
    assert re.search(r'<script nonce="[^"]+">\s*document.addEventListener\(.allauth.error', html)
    for script in ("mfa/js/webauthn-json.js", "mfa/js/webauthn.js", "account/js/onload.js"):
        assert f'src="/static/{script}"' in html


def test_security_key_list_edit_and_remove_pages(client, member):
    page = client.get(reverse("mfa_list_webauthn"))
    check_page(page, "Security keys")
    assert "You have not added any security keys." in page.text

    key = WebAuthn.add(
        member, "Work laptop", {"clientExtensionResults": {"credProps": {"rk": True}}}
    ).instance
    page = client.get(reverse("mfa_list_webauthn"))
    check_page(page, "Security keys")
    main = main_of(page)
    assert '<th class="nhsuk-table__header" scope="row">Work laptop</th>' in main
    assert '<strong class="nhsuk-tag nhsuk-tag--blue">Passkey</strong>' in main
    assert "Not used yet." in main
    assert 'Remove<span class="nhsuk-u-visually-hidden"> Work laptop</span>' in main

    edit = client.get(reverse("mfa_edit_webauthn", kwargs={"pk": key.pk}))
    check_page(edit, "Rename security key")
    assert 'id="mfa_webauthn_edit"' in edit.text and 'value="Work laptop"' in edit.text

    remove = client.get(reverse("mfa_remove_webauthn", kwargs={"pk": key.pk}))
    check_page(remove, "Remove security key")
    assert "<strong>Work laptop</strong>" in remove.text


# --- Errors ------------------------------------------------------------------


def test_form_errors_are_summarised_and_linked_to_their_fields(client):
    page = client.post(reverse("account_login"), {"login": "", "password": ""})
    html = page.content.decode()
    assert page.status_code == 200
    assert Page(html).title == f"Error: Sign in – {settings.SITE_NAME}"
    assert 'class="nhsuk-error-summary"' in html
    assert '<a href="#id_login">This field is required.</a>' in html
    assert re.search(r'<span class="nhsuk-error-message" id="id_login_error">', html)
    assert re.search(r'<input[^>]+aria-describedby="id_login_error"[^>]+id="id_login"', html)
    assert "nhsuk-form-group--error" in html


def test_hand_built_email_field_shows_its_error_too(client, member):
    page = client.post(reverse("account_email"), {"action_add": "", "email": "not an email"})
    html = page.content.decode()
    assert Page(html).title.startswith("Error: Email address")
    assert 'class="nhsuk-error-summary"' in html
    assert '<a href="#id_email">' in html
    assert 'id="id_email_error"' in html
    assert re.search(r'<input class="nhsuk-input nhsuk-input--error"[^>]+id="id_email"', html)
    assert 'aria-describedby="id_email_helptext id_email_error"' in html


# --- Emails ------------------------------------------------------------------


def test_security_notifications_are_plain_text_in_our_words(client, member, settings):
    settings.ACCOUNT_EMAIL_NOTIFICATIONS = True
    response = client.post(
        reverse("account_change_password"),
        {
            "oldpassword": TEST_PASSWORD,
            "password1": "another long password 12",
            "password2": "another long password 12",
        },
    )
    assert response.status_code == 302
    [message] = mail.outbox
    assert message.subject == f"[{settings.SITE_NAME}] Your password has changed"
    assert message.content_subtype == "plain" and not message.alternatives
    assert message.body.startswith("Dear Grace,")
    assert "The password for your account was changed." in message.body
    assert "If it was not you" in message.body
    assert "IP address: 127.0.0.1" in message.body
    assert message.body.rstrip().endswith(settings.SITE_NAME)


# --- Pages the current settings do not reach ---------------------------------
# (The password-reset-code and phone pages need their URLs, which exist only
# when those features are on, so they cannot be rendered here.)


class AnyForm(forms.Form):
    code = forms.CharField(label="Code")
    email = forms.EmailField(label="Email address")
    phone = forms.CharField(label="Phone number")
    credential = forms.CharField(widget=forms.HiddenInput, required=False)


@pytest.mark.parametrize(
    ("template", "title"),
    [
        ("account/confirm_email_verification_code.html", "Confirm your email address"),
        ("account/confirm_login_code.html", "Sign in"),
        ("account/request_login_code.html", "Sign in with a code"),
        ("account/signup_by_passkey.html", "Create an account with a passkey"),
        ("account/signup_closed.html", "Account creation closed"),
        ("account/password_set.html", "Set a password"),
        ("account/verified_email_required.html", "Confirm your email address"),
        ("account/phone_change.html", "Phone number"),
        ("account/email.html", "Email addresses"),
        ("mfa/trust.html", "Trust this browser?"),
        ("mfa/webauthn/signup_form.html", "Create a passkey"),
        # Reachable, but only with a really registered security key.
        ("mfa/webauthn/reauthenticate.html", "Confirm it's you"),
    ],
)
def test_pages_for_features_we_have_turned_off_still_render_in_our_design(template, title):
    request = RequestFactory().get("/accounts/")
    request.user = AnonymousUser()
    now = timezone.now()
    html = render_to_string(
        template,
        {
            "form": AnyForm(),
            "verify_form": AnyForm(),
            "change_form": AnyForm(),
            "can_change": True,
            "can_resend": True,
            "email": "someone@example.org",
            "phone": "+447700900000",
            "emailaddresses": [],
            "can_add_email": True,
            "trust_from": now,
            "trust_until": now + timezone.timedelta(days=14),
            "login_url": "/accounts/login/",
            "signup_url": "/accounts/signup/",
            "js_data": {"request_options": {}},
        },
        request=request,
    )
    page = Page(html)
    assert 'class="nhsuk-header' in html
    assert len(page.h1s) == 1
    assert page.title == f"{title} – {settings.SITE_NAME}"
    assert page.unlabelled_inputs() == []
    assert page.unnamed == []
