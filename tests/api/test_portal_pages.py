"""The employer portal's pages: who may see them, keys, the watch list and
webhook endpoints with their delivery log, each scoped to the caller's employer."""

import uuid

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import URLPattern, reverse

from api import portal_urls, webhooks
from api.models import ApiKey, WatchEntry, WebhookDelivery, WebhookEndpoint
from api.watchlist import watch_entry_add
from audit.models import Action, AuditEvent
from tests.api.builders import make_employer, make_key
from tests.api.receiver import Receiver
from tests.api.watch_builders import active_member, employer_person
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def employer():
    return make_employer()


@pytest.fixture
def person(employer):
    return employer_person(employer, email="hr@northshire.example")


@pytest.fixture
def portal(client, person):
    client.force_login(person)
    return client


@pytest.fixture
def member():
    return active_member(family_name="Price")


def portal_urls_for_an_object():
    some = uuid.uuid4()
    names = []
    for pattern in portal_urls.urlpatterns:
        assert isinstance(pattern, URLPattern)
        kwargs = {
            key: ("msg_x" if key == "event_id" else some) for key in pattern.pattern.converters
        }
        names.append(reverse(f"employer:{pattern.name}", kwargs=kwargs or None))
    return names


def test_every_portal_view_is_wrapped_in_employer_required():
    assert [
        p.name for p in portal_urls.urlpatterns if not getattr(p.callback, "employer_required", 0)
    ] == []


@pytest.mark.parametrize("url", portal_urls_for_an_object())
def test_anonymous_visitors_sign_in_and_other_people_get_404(client, url):
    response = client.get(url)
    assert response.status_code == 302 and response["Location"].startswith(reverse("account_login"))
    client.force_login(UserFactory())  # a member of the public, or a member
    assert client.get(url).status_code == 404


def test_an_inactive_employers_people_get_404(portal, employer):
    employer.is_active = False
    employer.save()
    assert portal.get(reverse("employer:home")).status_code == 404


def test_the_dashboard_takes_an_employers_person_to_the_portal(portal):
    response = portal.get(reverse("dashboard"))
    assert response.status_code == 302 and response["Location"] == reverse("employer:home")


def test_a_new_key_is_shown_once_then_revoked(portal, employer, person):
    response = portal.post(
        reverse("employer:keys"),
        {"name": "HR system", "scopes": ["verify", "watchlist"], **no_date("expires_on")},
        follow=True,
    )
    key = ApiKey.objects.get()
    assert key.employer == employer and key.created_by == person
    assert key.scopes == ["verify", "watchlist"]
    page = response.content.decode()
    raw = page.split(
        'id="new-key-value" type="text" readonly spellcheck="false" autocomplete="off" value="'
    )[1].split('"')[0]
    assert raw.startswith(key.prefix + ".")
    assert response["Cache-Control"] == "no-store"
    # Shown once: the next visit has only the prefix.
    again = portal.get(reverse("employer:keys")).content.decode()
    assert raw not in again and key.prefix in again

    assert portal.get(reverse("employer:key_revoke", args=[key.public_id])).status_code == 200
    portal.post(reverse("employer:key_revoke", args=[key.public_id]))
    key.refresh_from_db()
    assert key.revoked_at is not None
    assert AuditEvent.objects.filter(action=Action.API_KEY_REVOKED).exists()


def no_date(name):
    return {f"{name}_day": "", f"{name}_month": "", f"{name}_year": ""}


def test_a_key_needs_a_name_and_a_scope(portal):
    response = portal.post(reverse("employer:keys"), {"name": "", **no_date("expires_on")})
    assert response.status_code == 200
    assert "Enter a name for the key" in response.content.decode()
    assert "Choose at least one thing the key may do" in response.content.decode()
    assert not ApiKey.objects.exists()


def test_another_employers_key_entry_endpoint_and_delivery_are_404(portal, member):
    other = make_employer(name="Southshire")
    key = make_key(other).key
    entry, _ = watch_entry_add(
        employer=other, membership_number=member.membership_number, family_name="Price", actor=None
    )
    endpoint, _ = webhooks.webhook_endpoint_create(employer=other, url="https://x.example/h")
    delivery = WebhookDelivery.objects.create(
        endpoint=endpoint, event_id="msg_theirs", event_type="webhook.ping", payload={}
    )
    for url in [
        reverse("employer:key_revoke", args=[key.public_id]),
        reverse("employer:watch_entry_remove", args=[entry.public_id]),
        reverse("employer:webhook_detail", args=[endpoint.public_id]),
        reverse("employer:webhook_edit", args=[endpoint.public_id]),
        reverse("employer:webhook_delete", args=[endpoint.public_id]),
        reverse("employer:delivery_detail", args=[endpoint.public_id, delivery.event_id]),
    ]:
        assert portal.get(url).status_code == 404, url
        assert portal.post(url).status_code == 404, url
    for url in [
        reverse("employer:webhook_toggle", args=[endpoint.public_id]),
        reverse("employer:webhook_ping", args=[endpoint.public_id]),
    ]:
        assert portal.post(url).status_code == 404, url
    key.refresh_from_db()
    endpoint.refresh_from_db()
    assert key.revoked_at is None and endpoint.active
    assert WatchEntry.objects.filter(pk=entry.pk).exists()
    assert WebhookDelivery.objects.count() == 1
    listing = portal.get(reverse("employer:watch_list")).content.decode()
    assert member.membership_number not in listing


def test_adding_and_removing_on_the_watch_list(portal, employer, member, person):
    response = portal.post(
        reverse("employer:watch_list"),
        {"membership_number": member.membership_number, "family_name": "PRICE"},
        follow=True,
    )
    entry = WatchEntry.objects.get()
    assert entry.employer == employer and entry.added_by == person
    assert "is now on your watch list" in response.content.decode()
    wrong = portal.post(
        reverse("employer:watch_list"),
        {"membership_number": member.membership_number, "family_name": "Pryce"},
    )
    assert "No member has this membership number and family name." in wrong.content.decode()
    portal.post(reverse("employer:watch_entry_remove", args=[entry.public_id]))
    assert not WatchEntry.objects.exists()


def test_the_watch_list_page_runs_in_a_fixed_number_of_queries(
    portal, employer, django_assert_max_num_queries
):
    for n in range(12):
        m = active_member(family_name=f"Person{n}")
        watch_entry_add(
            employer=employer,
            membership_number=m.membership_number,
            family_name=f"Person{n}",
            actor=None,
        )
    with django_assert_max_num_queries(8):
        response = portal.get(reverse("employer:watch_list"))
    assert response.content.decode().count('id="entry-') == 12


def test_a_csv_upload_lists_the_rows_it_could_not_add(portal, member):
    upload = SimpleUploadedFile(
        "staff.csv",
        f"number,name\n{member.membership_number},Price\n1234567,Nobody\n".encode(),
        content_type="text/csv",
    )
    response = portal.post(reverse("employer:watch_list_upload"), {"file": upload})
    page = response.content.decode()
    assert "1 person added" in page
    assert 'id="row-errors"' in page and "No member has this membership number" in page
    assert WatchEntry.objects.get().member == member


def test_adding_an_endpoint_shows_its_secret_once_and_a_ping_shows_in_the_log(
    portal, employer, django_capture_on_commit_callbacks
):
    with Receiver() as receiver:
        response = portal.post(
            reverse("employer:webhook_new"),
            {"url": receiver.url, "description": "HR", "events": ["member.status_changed"]},
            follow=True,
        )
        endpoint = WebhookEndpoint.objects.get()
        assert endpoint.employer == employer and endpoint.events == ["member.status_changed"]
        assert endpoint.secret in response.content.decode()
        detail = reverse("employer:webhook_detail", args=[endpoint.public_id])
        assert endpoint.secret not in portal.get(detail).content.decode()
        with django_capture_on_commit_callbacks(execute=True):
            portal.post(reverse("employer:webhook_ping", args=[endpoint.public_id]))
        assert len(receiver.received) == 1
    delivery = WebhookDelivery.objects.get()
    log = portal.get(detail).content.decode()
    assert f'id="delivery-{delivery.event_id}"' in log and "HTTP 200" in log
    page = portal.get(
        reverse("employer:delivery_detail", args=[endpoint.public_id, delivery.event_id])
    ).content.decode()
    assert "webhook.ping" in page and "HTTP 200" in page


def test_turning_an_endpoint_off_and_on_editing_and_deleting_it(portal, employer):
    endpoint, _ = webhooks.webhook_endpoint_create(employer=employer, url="https://x.example/h")
    portal.post(reverse("employer:webhook_toggle", args=[endpoint.public_id]))
    endpoint.refresh_from_db()
    assert not endpoint.active
    portal.post(reverse("employer:webhook_toggle", args=[endpoint.public_id]))
    endpoint.refresh_from_db()
    assert endpoint.active
    portal.post(
        reverse("employer:webhook_edit", args=[endpoint.public_id]),
        {"url": "https://y.example/h", "events": ["accreditation.revoked"]},
    )
    endpoint.refresh_from_db()
    assert endpoint.url == "https://y.example/h" and endpoint.events == ["accreditation.revoked"]
    portal.post(reverse("employer:webhook_delete", args=[endpoint.public_id]))
    assert not WebhookEndpoint.objects.exists()


def test_the_endpoint_page_runs_in_a_fixed_number_of_queries(
    portal, employer, django_assert_max_num_queries
):
    endpoint, _ = webhooks.webhook_endpoint_create(employer=employer, url="https://x.example/h")
    WebhookDelivery.objects.bulk_create(
        WebhookDelivery(
            endpoint=endpoint, event_id=f"msg_{n}", event_type="webhook.ping", payload={}
        )
        for n in range(30)
    )
    with django_assert_max_num_queries(8):
        response = portal.get(reverse("employer:webhook_detail", args=[endpoint.public_id]))
    assert response.content.decode().count('id="delivery-msg_') == 25


def test_the_overview_counts_what_the_employer_has(
    portal, employer, member, django_assert_max_num_queries
):
    make_key(employer)
    watch_entry_add(
        employer=employer,
        membership_number=member.membership_number,
        family_name="Price",
        actor=None,
    )
    with django_assert_max_num_queries(7):
        page = portal.get(reverse("employer:home")).content.decode()
    assert 'id="count-watched">1<' in page and 'id="count-keys">1<' in page
    assert 'id="count-endpoints">0<' in page and reverse("api:docs") in page


def test_the_keys_endpoints_and_uploads_lists_run_in_a_fixed_number_of_queries(
    portal, employer, person, django_assert_max_num_queries
):
    from api.bulk import bulk_verification_start

    for n in range(5):
        make_key(employer, name=f"System {n}")
        webhooks.webhook_endpoint_create(employer=employer, url=f"https://x.example/{n}")
        bulk_verification_start(
            employer=employer,
            user=person,
            upload=SimpleUploadedFile(f"f{n}.csv", b"1,A\n", content_type="text/csv"),
        )
    for name, marker in [
        ("employer:keys", "System 4"),
        ("employer:webhook_list", "https://x.example/4"),
        ("employer:verify_index", "f4.csv"),
    ]:
        with django_assert_max_num_queries(6):
            page = portal.get(reverse(name)).content.decode()
        assert marker in page
