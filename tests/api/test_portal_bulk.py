"""CSV bulk verification in the employer portal, end to end: upload, the
background check with progress, the result CSV and the lookup log."""

import csv
import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from api import bulk
from api.models import BulkVerification, LookupChannel, VerificationLookup
from tests.api.builders import make_employer
from tests.api.watch_builders import active_member, employer_person

pytestmark = pytest.mark.django_db


@pytest.fixture
def employer():
    return make_employer()


@pytest.fixture
def person(employer):
    return employer_person(employer)


@pytest.fixture
def portal(client, person):
    client.force_login(person)
    return client


def upload(text: str, name="staff.csv"):
    return SimpleUploadedFile(name, text.encode(), content_type="text/csv")


def test_a_csv_is_checked_in_the_background_and_the_results_downloaded(
    portal, employer, person, django_capture_on_commit_callbacks
):
    price = active_member(family_name="Price")
    text = (
        "membership_number,family_name\n"
        f"{price.membership_number},price\n"
        f"{price.membership_number},Hughes\n"
        "99999999,Nobody\n"
        "=HYPERLINK(1),x\n"
        "12345\n"
    )
    with django_capture_on_commit_callbacks(execute=True):
        response = portal.post(reverse("employer:verify_index"), {"file": upload(text)})
    job = BulkVerification.objects.get()
    assert response["Location"] == reverse("employer:verify_detail", args=[job.public_id])
    assert job.employer == employer and job.uploaded_by == person
    assert job.status == "done" and job.total_rows == job.processed_rows == 5
    assert job.matched_rows == 1

    page = portal.get(response["Location"]).content.decode()
    assert "Download the results (CSV)" in page and "1 matched a member" in page
    result = portal.get(reverse("employer:verify_result", args=[job.public_id]))
    assert result["Content-Type"] == "text/csv; charset=utf-8"
    assert 'filename="checked-' in result["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(result.content.decode())))
    assert rows[0] == bulk.RESULT_HEADER
    assert rows[1][:7] == ["2", price.membership_number, "price", "yes", "Active", "active", "yes"]
    assert rows[2][:4] == ["3", price.membership_number, "Hughes", "no"]
    assert rows[3][:4] == ["4", "99999999", "Nobody", "no"]
    assert rows[4][1] == "'=HYPERLINK(1)"  # a formula is never handed to a spreadsheet
    assert rows[5][:4] == ["6", "12345", "", "no (give a number and a family name)"]
    # Each check asked is in the lookup log, as the portal's and this person's.
    lookups = VerificationLookup.objects.filter(employer=employer)
    assert lookups.count() == 4
    assert set(lookups.values_list("channel", "user")) == {(LookupChannel.PORTAL, person.pk)}
    assert lookups.filter(member=price).count() == 1


def test_progress_is_shown_while_the_check_waits_or_runs(portal):
    portal.post(reverse("employer:verify_index"), {"file": upload("1234567,Price\n")})
    job = BulkVerification.objects.get()  # queued: the test never commits
    page = portal.get(reverse("employer:verify_detail", args=[job.public_id])).content.decode()
    assert "Waiting to start: 0 of 1 rows checked (0%)" in page
    assert "api/bulk-progress.js" in page
    progress = portal.get(reverse("employer:verify_progress", args=[job.public_id])).json()
    assert progress == {
        "status": "queued",
        "status_words": "Waiting to start",
        "processed_rows": 0,
        "total_rows": 1,
        "percent": 0,
        "finished": False,
    }
    # No result to download until it is done.
    assert portal.get(reverse("employer:verify_result", args=[job.public_id])).status_code == 404


def test_another_employers_upload_is_404(portal):
    other = make_employer(name="Southshire")
    job = bulk.bulk_verification_start(
        employer=other, user=employer_person(other), upload=upload("1,A\n")
    )
    for name in ["verify_detail", "verify_progress", "verify_result"]:
        assert portal.get(reverse(f"employer:{name}", args=[job.public_id])).status_code == 404
    assert "staff.csv" not in portal.get(reverse("employer:verify_index")).content.decode()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("number,name\n", "The file has no rows to check."),
        ("1,A\n" * 10_001, "check at most 10,000 at a time"),
    ],
)
def test_an_empty_or_too_long_file_is_refused_on_the_form(portal, text, message):
    response = portal.post(reverse("employer:verify_index"), {"file": upload(text)})
    assert response.status_code == 200 and message in response.content.decode()
    assert not BulkVerification.objects.exists()


def test_ten_thousand_rows_are_checked_in_chunks_of_a_fixed_number_of_queries(
    employer, person, django_assert_max_num_queries
):
    member = active_member(family_name="Price")
    rows = [f"{member.membership_number},Price"] + [f"{n},Nobody" for n in range(9_999)]
    job = bulk.bulk_verification_start(
        employer=employer, user=person, upload=upload("\n".join(rows))
    )
    # Per chunk of 1,000: read the members, log the lookups, save progress.
    with django_assert_max_num_queries(2 + 10 * 3 + 1):
        bulk.bulk_verification_run(job_id=job.pk)
    job.refresh_from_db()
    assert job.status == "done" and job.processed_rows == 10_000 and job.matched_rows == 1
    assert job.result_csv.count("\n") == 10_001
    assert VerificationLookup.objects.count() == 10_000
