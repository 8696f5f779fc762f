import re

import pytest
from allauth.account.models import EmailAddress
from django.core import mail
from django.urls import reverse

from members.models import User
from tests.factories import TEST_PASSWORD, AssessorFactory, StaffFactory, UserFactory
from tests.totp import current_code, enable_totp

pytestmark = pytest.mark.django_db

NEW_PASSWORD = "a quite long new password 42"


def link_in(message) -> str:
    return re.search(r"https?://\S+", message.body).group(0)


def sign_in(client, email, password=TEST_PASSWORD):
    return client.post(reverse("account_login"), {"login": email, "password": password})


def test_sign_up_verify_sign_in_and_out(client):
    response = client.post(
        reverse("account_signup"),
        {
            "given_name": "Ada",
            "family_name": "Lovelace",
            "email": "Ada.Lovelace@Example.org",
            "password1": NEW_PASSWORD,
            "password2": NEW_PASSWORD,
        },
    )
    assert response.status_code == 302
    assert response["Location"] == reverse("account_email_verification_sent")
    user = User.objects.get()
    assert (user.email, user.given_name, user.family_name) == (
        "ada.lovelace@example.org",
        "Ada",
        "Lovelace",
    )
    assert not EmailAddress.objects.get(user=user).verified

    # Verification is mandatory: signing in before confirming sends another email.
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == ["ada.lovelace@example.org"]
    assert message.body.strip() and message.content_subtype == "plain"
    confirm_url = link_in(message)
    client.logout()
    response = sign_in(client, "ada.lovelace@example.org", NEW_PASSWORD)
    assert response["Location"] == reverse("account_email_verification_sent")
    assert "_auth_user_id" not in client.session

    # The link shows a confirmation page; a GET alone confirms nothing.
    assert client.get(confirm_url).status_code == 200
    assert not EmailAddress.objects.get(user=user).verified
    response = client.post(confirm_url)
    assert response.status_code == 302
    assert EmailAddress.objects.get(user=user).verified

    response = sign_in(client, "ADA.LOVELACE@example.org", NEW_PASSWORD)
    assert response["Location"] == reverse("dashboard")
    dashboard = client.get(reverse("dashboard"))
    assert "Welcome, Ada" in dashboard.text

    response = client.post(reverse("account_logout"))
    assert response.status_code == 302
    assert "_auth_user_id" not in client.session
    assert client.get(reverse("dashboard"))["Location"].startswith(reverse("account_login"))


def test_sign_up_with_a_taken_email_or_weak_password_rerenders_with_errors(client):
    UserFactory(email="taken@example.org")
    response = client.post(
        reverse("account_signup"),
        {
            "given_name": "",
            "family_name": "Smith",
            "email": "someone@example.org",
            "password1": "password",
            "password2": "password",
        },
    )
    assert response.status_code == 200
    assert "There is a problem" in response.text
    assert 'id="id_given_name_error"' in response.text
    assert "This password is too common." in response.text
    # What the person typed is kept.
    assert 'value="someone@example.org"' in response.text
    assert User.objects.count() == 1


def test_password_reset_looks_the_same_for_unknown_and_known_emails(client):
    UserFactory(email="known@example.org")
    known = client.post(reverse("account_reset_password"), {"email": "known@example.org"})
    unknown = client.post(reverse("account_reset_password"), {"email": "nobody@example.org"})
    assert known.status_code == unknown.status_code == 302
    assert known["Location"] == unknown["Location"] == reverse("account_reset_password_done")

    # The pages differ only in their per-request CSP nonce.
    def page(url):
        return re.sub(r'nonce="[^"]*"', "", client.get(url).text)

    assert page(known["Location"]) == page(unknown["Location"])

    # Each address gets one email; only the known account's carries a reset link.
    assert [m.to for m in mail.outbox] == [["known@example.org"], ["nobody@example.org"]]
    assert "/accounts/password/reset/key/" in mail.outbox[0].body
    assert "/accounts/password/reset/key/" not in mail.outbox[1].body


def test_password_reset_link_sets_a_new_password(client):
    user = UserFactory(email="forgetful@example.org")
    client.post(reverse("account_reset_password"), {"email": user.email})
    response = client.get(link_in(mail.outbox[0]), follow=True)
    form_url = response.redirect_chain[-1][0]
    response = client.post(form_url, {"password1": NEW_PASSWORD, "password2": NEW_PASSWORD})
    assert response.status_code == 302
    user.refresh_from_db()
    assert user.check_password(NEW_PASSWORD)


def test_sixth_wrong_password_in_a_row_is_refused_even_if_right(client):
    user = UserFactory()
    for _ in range(5):
        response = sign_in(client, user.email, "wrong password")
        assert response.status_code == 200
        assert "The email address and/or password you specified are not correct." in response.text
    response = sign_in(client, user.email, TEST_PASSWORD)
    assert response.status_code == 200
    assert "Too many failed login attempts. Try again later." in response.text
    assert "_auth_user_id" not in client.session


def test_changing_email_needs_the_new_address_verified(client):
    user = UserFactory(email="old@example.org")
    sign_in(client, user.email)
    response = client.post(reverse("account_email"), {"action_add": "", "email": "new@example.org"})
    assert response.status_code == 302
    user.refresh_from_db()
    assert user.email == "old@example.org"
    assert EmailAddress.objects.get(email="new@example.org").verified is False
    assert mail.outbox[-1].to == ["new@example.org"]

    client.post(link_in(mail.outbox[-1]))
    user.refresh_from_db()
    assert user.email == "new@example.org"
    assert list(EmailAddress.objects.filter(user=user).values_list("email", flat=True)) == [
        "new@example.org"
    ]


def test_every_account_email_has_a_plain_text_part(client):
    user = UserFactory()
    client.post(reverse("account_reset_password"), {"email": user.email})
    client.post(
        reverse("account_signup"),
        {
            "given_name": "B",
            "family_name": "C",
            "email": "b@example.org",
            "password1": NEW_PASSWORD,
            "password2": NEW_PASSWORD,
        },
    )
    assert len(mail.outbox) == 2
    for message in mail.outbox:
        assert message.content_subtype == "plain"
        assert message.body.strip()


@pytest.mark.parametrize("factory", [StaffFactory, AssessorFactory])
def test_staff_and_assessors_without_mfa_are_sent_to_set_it_up(client, factory):
    user = factory()
    response = sign_in(client, user.email)
    assert response.status_code == 302
    for path in (reverse("dashboard"), reverse("admin:index"), "/admin/members/user/"):
        response = client.get(path)
        assert response.status_code == 302, path
        assert response["Location"] == reverse("mfa_required")
    page = client.get(reverse("mfa_required"))
    assert page.status_code == 200
    assert reverse("mfa_activate_totp") in page.text
    # Account pages, including MFA set-up (which first re-asks the password), stay reachable.
    response = client.get(reverse("mfa_activate_totp"), follow=True)
    assert response.status_code == 200
    assert response.redirect_chain[-1][0].startswith(reverse("account_reauthenticate"))


def test_staff_with_totp_sign_in_with_a_code_and_reach_admin(client):
    user = StaffFactory()
    secret = enable_totp(user)
    response = sign_in(client, user.email)
    assert response["Location"] == reverse("mfa_authenticate")
    assert "_auth_user_id" not in client.session

    response = client.post(reverse("mfa_authenticate"), {"code": "000000"})
    assert response.status_code == 200
    assert "_auth_user_id" not in client.session

    response = client.post(reverse("mfa_authenticate"), {"code": current_code(secret)})
    assert response.status_code == 302
    response = client.get(reverse("admin:index"))
    assert response.status_code == 200
    assert "Registry administration" in response.text


def test_admin_sign_in_goes_through_the_site_login(client):
    response = client.get(reverse("admin:index"), follow=True)
    assert response.redirect_chain[-1][0].startswith(reverse("account_login"))


def test_members_do_not_need_mfa_and_cannot_use_admin(client):
    user = UserFactory()
    sign_in(client, user.email)
    assert client.get(reverse("dashboard")).status_code == 200
    assert client.get(reverse("mfa_required"))["Location"] == reverse("dashboard")
    assert client.get(reverse("admin:index"), follow=True).status_code == 403
