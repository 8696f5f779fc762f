"""Standards frameworks: the content the migration loads, the crosswalk, versioning, admin."""

import datetime as dt
import threading

import pytest
from django.apps import apps
from django.db import IntegrityError, connection, transaction
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from cpd.admin import DRAFTS_ONLY
from cpd.frameworks import (
    HLM_KEY,
    LCF_KEY,
    PRIMARY_KEY,
    FrameworkError,
    framework_draft_create,
    framework_publish,
    frameworks_load,
)
from cpd.models import Domain, Entry, Evidence, Framework, Indicator, Standard
from cpd.selectors import cpd_domain_totals, cpd_year_containing
from tests.factories import MemberFactory, UserFactory
from tests.totp import enable_totp

OUR_DOMAINS = [
    "Leading people and teams",
    "Collaborative and system leadership",
    "Performance management and accountability",
    "Quality and continuous improvement",
    "Finance and resources",
    "Strategy and long-term planning",
    "Project and change management",
    "Managing self and professional conduct",
]
HLM_DIMENSIONS = [
    "Inspiring shared purpose",
    "Leading with care",
    "Evaluating information",
    "Connecting our service",
    "Sharing the vision",
    "Engaging the team",
    "Holding to account",
    "Developing capability",
    "Influencing for results",
]
LCF_DOMAINS = [
    "Driving high-quality and sustainable outcomes",
    "Setting strategy and delivering long-term transformation",
    "Promoting equality and inclusion, and reducing health and workforce inequalities",
    "Providing robust governance and assurance",
    "Creating a compassionate, just and positive culture",
    "Building a trusted relationship with partners and communities",
]
LEVELS = {"first_line", "middle", "senior", "executive"}


def current(key: str) -> Framework:
    return Framework.objects.get(key=key, status=Framework.Status.CURRENT)


def snapshot(framework: Framework) -> dict:
    """Everything a version holds, by code, to compare before and after."""
    return {
        "framework": (framework.name, framework.short_name, framework.status, framework.version),
        "domains": list(
            framework.domains.order_by("order").values_list("code", "title", "description")
        ),
        "standards": {
            s.code: (
                s.domain.code,
                s.title,
                s.description,
                sorted((i.level, i.text) for i in s.indicators.all()),
                sorted((d.framework_id, d.code) for d in s.counts_towards.all()),
            )
            for s in framework.standards.select_related("domain").prefetch_related(
                "indicators", "counts_towards"
            )
        },
        "incoming": sorted(
            (d.code, s.pk) for d in framework.domains.all() for s in d.crosswalked_standards.all()
        ),
    }


def log_entry(standard: Standard, **fields) -> Entry:
    today = timezone.localdate()
    entry = Entry.objects.create(
        member=fields.pop("member", None) or MemberFactory(),
        title="Rota planning masterclass",
        starts_on=today,
        ends_on=today,
        minutes=60,
        activity_type="formal",
        participatory=True,
        **fields,
    )
    entry.standards.add(standard)
    return entry


# --- What the migration loads -------------------------------------------------------------


@pytest.mark.django_db
def test_our_framework_is_loaded_with_domains_standards_and_level_indicators():
    ours = current(PRIMARY_KEY)
    assert (ours.name, ours.short_name, ours.version, ours.is_primary) == (
        "Management Standards for Health Service Managers",
        "Our standards",
        1,
        True,
    )
    assert ours.published_on == dt.date(2026, 1, 1)
    assert Framework.objects.filter(is_primary=True).count() == 1

    domains = list(ours.domains.order_by("order"))
    assert [d.title for d in domains] == OUR_DOMAINS
    assert [d.code for d in domains] == [f"D{n}" for n in range(1, 9)]
    for n, domain in enumerate(domains, start=1):
        standards = list(domain.standards.order_by("order"))
        assert 3 <= len(standards) <= 5, domain.title
        assert [s.code for s in standards] == [f"D{n}.{m}" for m in range(1, len(standards) + 1)]
        for standard in standards:
            assert standard.framework_id == ours.pk
            assert standard.title and standard.description.endswith(".")
            indicators = {i.level: i.text for i in standard.indicators.all()}
            assert set(indicators) == LEVELS, standard.code
            assert all(text.endswith(".") for text in indicators.values())
            # Each level says something different.
            assert len(set(indicators.values())) == 4
    assert Standard.objects.filter(framework=ours).count() == 32
    assert Indicator.objects.filter(standard__framework=ours).count() == 128


@pytest.mark.django_db
@pytest.mark.parametrize(
    "key, name, short_name, titles",
    [
        (
            HLM_KEY,
            "NHS Healthcare Leadership Model",
            "Healthcare Leadership Model",
            HLM_DIMENSIONS,
        ),
        (
            LCF_KEY,
            "NHS Leadership Competency Framework for board members",
            "Board competency framework",
            LCF_DOMAINS,
        ),
    ],
)
def test_the_nhs_frameworks_are_loaded_with_their_exact_names(key, name, short_name, titles):
    framework = current(key)
    assert (framework.name, framework.short_name, framework.is_primary) == (
        name,
        short_name,
        False,
    )
    domains = list(framework.domains.order_by("order"))
    assert [d.title for d in domains] == titles
    assert all(d.description.endswith(".") for d in domains)
    # Views through the crosswalk, not frameworks members map to.
    assert not framework.standards.exists()
    assert "descriptions are our own" in framework.source_note


@pytest.mark.django_db
def test_the_crosswalk_is_complete_both_ways():
    hlm, lcf = current(HLM_KEY), current(LCF_KEY)
    for standard in current(PRIMARY_KEY).standards.prefetch_related("counts_towards"):
        targets = list(standard.counts_towards.all())
        assert 1 <= sum(d.framework_id == hlm.pk for d in targets) <= 3, standard.code
        assert 1 <= sum(d.framework_id == lcf.pk for d in targets) <= 2, standard.code
        assert {d.framework_id for d in targets} <= {hlm.pk, lcf.pk}
    for domain in Domain.objects.filter(framework__in=[hlm, lcf]):
        assert domain.crosswalked_standards.exists(), domain.title


@pytest.mark.django_db
def test_loading_again_changes_nothing():
    before = {key: snapshot(current(key)) for key in (PRIMARY_KEY, HLM_KEY, LCF_KEY)}
    assert frameworks_load(apps) == []
    assert Framework.objects.count() == 3
    assert {key: snapshot(current(key)) for key in before} == before


@pytest.mark.django_db
def test_loading_a_missing_family_adds_it_and_links_it_to_our_standards():
    before = snapshot(current(HLM_KEY))
    Framework.objects.filter(key=HLM_KEY).delete()
    assert frameworks_load(apps) == [HLM_KEY]
    reloaded = current(HLM_KEY)
    after = snapshot(reloaded)
    # Same content and links; only the ids of our standards' rows are compared.
    assert after["domains"] == before["domains"]
    assert after["incoming"] == before["incoming"]


# --- Drafts and publishing ----------------------------------------------------------------


@pytest.mark.django_db
def test_a_draft_is_a_deep_independent_copy_of_the_current_version():
    v1 = current(PRIMARY_KEY)
    before = snapshot(v1)

    draft = framework_draft_create(framework=v1)

    assert (draft.key, draft.version, draft.status, draft.published_on) == (
        PRIMARY_KEY,
        2,
        Framework.Status.DRAFT,
        None,
    )
    copied = snapshot(draft)
    assert copied["domains"] == before["domains"]
    assert copied["standards"] == before["standards"]  # titles, indicators and crosswalk
    assert not set(draft.domains.values_list("pk", flat=True)) & set(
        v1.domains.values_list("pk", flat=True)
    )
    assert not set(draft.standards.values_list("pk", flat=True)) & set(
        v1.standards.values_list("pk", flat=True)
    )
    assert all(s.domain.framework_id == draft.pk for s in draft.standards.select_related("domain"))

    # Edit the draft every way the admin can; version 1 does not change.
    standard = draft.standards.get(code="D1.1")
    standard.title = "Setting direction (reworded)"
    standard.save()
    standard.indicators.filter(level="senior").update(text="Rewritten for version 2.")
    standard.counts_towards.clear()
    draft.domains.filter(code="D8").update(title="Professional conduct")
    draft.standards.filter(code="D2.4").delete()
    Framework.objects.filter(pk=draft.pk).update(name="Renamed in the draft")

    v1.refresh_from_db()
    assert snapshot(v1) == before


@pytest.mark.django_db
def test_a_draft_of_an_nhs_framework_keeps_the_links_from_our_standards():
    hlm = current(HLM_KEY)
    draft = framework_draft_create(framework=hlm)
    for original in hlm.domains.all():
        copy = draft.domains.get(code=original.code)
        assert copy.pk != original.pk
        assert set(copy.crosswalked_standards.all()) == set(original.crosswalked_standards.all())
        assert copy.crosswalked_standards.exists()


@pytest.mark.django_db
def test_only_one_draft_at_a_time_and_only_from_the_current_version():
    v1 = current(PRIMARY_KEY)
    draft = framework_draft_create(framework=v1)
    with pytest.raises(FrameworkError, match="already has a draft \\(version 2\\)"):
        framework_draft_create(framework=v1)
    with pytest.raises(FrameworkError, match="only the current version"):
        framework_draft_create(framework=draft)
    framework_publish(framework=draft)
    # A stale copy of version 1 still says current; the service re-reads it.
    with pytest.raises(FrameworkError, match="Version 1 is retired"):
        framework_draft_create(framework=v1)
    assert Framework.objects.filter(key=PRIMARY_KEY).count() == 2


@pytest.mark.django_db
def test_publishing_retires_the_old_version_and_makes_the_draft_current():
    v1 = current(PRIMARY_KEY)
    v2 = framework_draft_create(framework=v1)

    published = framework_publish(framework=v2)

    v1.refresh_from_db()
    v2.refresh_from_db()
    assert (v2.status, v2.published_on) == (Framework.Status.CURRENT, timezone.localdate())
    assert published == v2
    assert (v1.status, v1.published_on) == (Framework.Status.RETIRED, dt.date(2026, 1, 1))
    assert current(PRIMARY_KEY) == v2
    # The other families are untouched.
    assert current(HLM_KEY).version == current(LCF_KEY).version == 1


@pytest.mark.django_db
def test_publishing_twice_or_from_a_stale_copy_leaves_one_current_version():
    v1 = current(PRIMARY_KEY)
    v2 = framework_draft_create(framework=v1)
    stale = Framework.objects.get(pk=v2.pk)  # still says draft
    framework_publish(framework=v2)
    published_on = current(PRIMARY_KEY).published_on

    # A double click or a second registrar: nothing changes.
    assert framework_publish(framework=stale) == v2
    assert framework_publish(framework=v2).published_on == published_on
    with pytest.raises(FrameworkError, match="retired and cannot be published again"):
        framework_publish(framework=v1)
    assert list(
        Framework.objects.filter(key=PRIMARY_KEY).order_by("version").values_list("status")
    ) == [("retired",), ("current",)]

    # The database refuses a second current version whatever the code does.
    with pytest.raises(IntegrityError), transaction.atomic():
        Framework.objects.filter(pk=v1.pk).update(status=Framework.Status.CURRENT)


@pytest.mark.django_db
def test_an_older_draft_or_an_empty_one_is_not_published():
    v1 = current(LCF_KEY)
    empty = Framework.objects.create(
        key="empty", name="Empty", short_name="Empty", status=Framework.Status.DRAFT
    )
    with pytest.raises(FrameworkError, match="has no domains"):
        framework_publish(framework=empty)

    # A draft older than the current version (made by hand, not by the service).
    v2 = framework_draft_create(framework=v1)
    framework_publish(framework=v2)
    Framework.objects.filter(pk=v1.pk).update(status=Framework.Status.DRAFT)
    with pytest.raises(FrameworkError, match="older than the current version"):
        framework_publish(framework=v1)
    assert current(LCF_KEY) == v2


@pytest.mark.django_db
def test_an_entry_mapped_to_version_1_keeps_it_after_version_2_is_published_and_edited():
    v1 = current(PRIMARY_KEY)
    old_standard = v1.standards.get(code="D5.2")
    entry = log_entry(old_standard)

    v2 = framework_publish(framework=framework_draft_create(framework=v1))
    new_standard = v2.standards.get(code="D5.2")
    new_standard.title = "Workforce, rotas and job planning"
    new_standard.save()
    v2.domains.filter(code="D5").update(title="Money, people and buildings")

    entry = Entry.objects.get(pk=entry.pk)
    assert [
        (s.pk, s.code, s.title, s.framework.version, s.framework.status)
        for s in entry.standards.select_related("framework")
    ] == [(old_standard.pk, "D5.2", "Planning the workforce and rotas", 1, "retired")]
    assert not new_standard.entries.exists()

    # It still counts: in the current version's domain of the same code, and in
    # the NHS frameworks through version 1's crosswalk.
    totals = cpd_domain_totals(member=entry.member, year=cpd_year_containing(timezone.localdate()))
    assert totals[PRIMARY_KEY]["D5"] == 60
    assert totals[HLM_KEY] == {f"HLM{n}": (60 if n in (7, 8) else 0) for n in range(1, 10)}
    assert totals[LCF_KEY] == {f"LCF{n}": (60 if n in (1, 5) else 0) for n in range(1, 7)}


@pytest.mark.skipif(connection.vendor != "postgresql", reason="concurrency needs PostgreSQL")
@pytest.mark.django_db(transaction=True)
def test_racing_drafts_and_publishes_leave_one_draft_then_one_current_version():
    v1 = Framework.objects.create(
        key="race", name="Race", short_name="Race", status=Framework.Status.CURRENT
    )
    Domain.objects.create(framework=v1, code="R1", title="Running")

    def race(work, workers=6):
        barrier = threading.Barrier(workers)
        results, lock = [], threading.Lock()

        def run():
            try:
                barrier.wait()
                outcome = work()
            except Exception as error:  # reported below: only FrameworkError is expected
                outcome = error
            finally:
                connection.close()
            with lock:
                results.append(outcome)

        threads = [threading.Thread(target=run) for _ in range(workers)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        return results

    drafts = race(lambda: framework_draft_create(framework=v1))
    assert len(drafts) == 6
    made = [r for r in drafts if isinstance(r, Framework)]
    assert len(made) == 1 and made[0].version == 2
    refused = [r for r in drafts if not isinstance(r, Framework)]
    assert all(isinstance(r, FrameworkError) for r in refused), refused
    assert all("already has a draft (version 2)" in str(r) for r in refused)

    published = race(lambda: framework_publish(framework=made[0]))
    assert len(published) == 6
    assert all(isinstance(r, Framework) for r in published), published
    assert {r.pk for r in published} == {made[0].pk}  # every caller sees the same result
    assert list(
        Framework.objects.filter(key="race").order_by("version").values_list("status", flat=True)
    ) == ["retired", "current"]


# --- Admin --------------------------------------------------------------------------------


@pytest.fixture
def superuser_client(client):
    user = UserFactory(is_staff=True, is_superuser=True)
    enable_totp(user)  # staff without a second factor are held at MFA set-up
    client.force_login(user)
    return client


def change_url(obj) -> str:
    return reverse(f"admin:cpd_{obj._meta.model_name}_change", args=[obj.pk])


def form_data(response) -> dict:
    """What the browser would post back from an admin change page, unchanged."""
    forms = [response.context["adminform"].form]
    for inline in response.context["inline_admin_formsets"]:
        forms += [inline.formset.management_form, *inline.formset.forms]
    data = {}
    for form in forms:
        for name in form.fields:
            value = form[name].value()
            if value is None or value is False:
                continue
            key = form.add_prefix(name)
            if value is True:
                data[key] = "on"
            elif isinstance(value, list | tuple):
                data[key] = [str(v) for v in value]
            else:
                data[key] = value
    return data


@pytest.mark.django_db
def test_the_framework_list_runs_a_fixed_number_of_queries(superuser_client):
    url = reverse("admin:cpd_framework_changelist")

    def queries() -> tuple[int, str]:
        with CaptureQueriesContext(connection) as captured:
            response = superuser_client.get(url)
        assert response.status_code == 200
        return len(captured), response.content.decode()

    count, page = queries()
    assert "Management Standards for Health Service Managers" in page
    assert "Create a draft from this version" in page and "Publish this draft" in page
    assert "delete_selected" not in page
    for key in (PRIMARY_KEY, HLM_KEY, LCF_KEY):
        framework_publish(framework=framework_draft_create(framework=current(key)))
    framework_draft_create(framework=current(HLM_KEY))
    assert Framework.objects.count() == 7
    assert queries()[0] == count


@pytest.mark.django_db
def test_published_versions_are_read_only_and_drafts_are_editable(superuser_client):
    v1 = current(PRIMARY_KEY)
    page = superuser_client.get(change_url(v1)).content.decode()
    assert DRAFTS_ONLY.split(":")[0] in page
    assert 'name="name"' not in page and 'name="domains-0-title"' not in page
    assert superuser_client.post(change_url(v1), {"name": "Changed"}).status_code == 403
    domain = v1.domains.get(code="D1")
    standard = v1.standards.get(code="D1.1")
    for obj in (domain, standard):
        page = superuser_client.get(change_url(obj)).content.decode()
        assert 'name="title"' not in page and "Only drafts can be edited" in page

    draft = framework_draft_create(framework=v1)
    page = superuser_client.get(change_url(draft)).content.decode()
    assert 'name="name"' in page and 'name="domains-0-title"' in page
    assert 'name="status"' not in page and 'name="key"' not in page
    draft_domain = draft.domains.get(code="D1")
    page = superuser_client.get(change_url(draft_domain)).content.decode()
    assert 'name="title"' in page and 'name="standards-0-title"' in page


@pytest.mark.django_db
def test_a_draft_standard_is_edited_with_indicators_and_the_crosswalk(superuser_client):
    v1 = current(PRIMARY_KEY)
    draft = framework_draft_create(framework=v1)
    standard = draft.standards.get(code="D1.1")
    url = change_url(standard)
    response = superuser_client.get(url)
    picker = response.context["adminform"].form.fields["counts_towards"]
    # Only the other frameworks' domains are offered, labelled with their version.
    assert {d.framework.key for d in picker.queryset} == {HLM_KEY, LCF_KEY}
    assert picker.queryset.count() == 15
    assert "Healthcare Leadership Model v1: HLM1 Inspiring shared purpose" in (
        response.content.decode()
    )

    data = form_data(response)
    hlm3 = current(HLM_KEY).domains.get(code="HLM3")
    lcf4 = current(LCF_KEY).domains.get(code="LCF4")
    data.update(
        {
            "title": "Giving the team a clear direction and purpose",
            "counts_towards": [str(hlm3.pk), str(lcf4.pk)],
            "indicators-0-text": "Runs a daily huddle that sets the day's priorities.",
        }
    )
    assert superuser_client.post(url, data).status_code == 302

    standard.refresh_from_db()
    assert standard.title == "Giving the team a clear direction and purpose"
    assert standard.framework == draft
    assert set(standard.counts_towards.all()) == {hlm3, lcf4}
    assert standard.indicators.filter(text__startswith="Runs a daily huddle").count() == 1
    original = v1.standards.get(code="D1.1")
    assert original.title == "Giving the team a clear direction"
    assert original.counts_towards.count() == 3

    data["code"] = "D1.2"
    response = superuser_client.post(url, data)
    assert response.status_code == 200
    assert "Another standard in this framework has this code." in response.content.decode()


@pytest.mark.django_db
def test_admin_actions_create_and_publish_drafts_with_messages(superuser_client):
    url = reverse("admin:cpd_framework_changelist")
    v1 = current(HLM_KEY)

    response = superuser_client.post(
        url, {"action": "create_draft", "_selected_action": [v1.pk]}, follow=True
    )
    draft = Framework.objects.get(key=HLM_KEY, status=Framework.Status.DRAFT)
    assert draft.version == 2
    assert "Edit it, then publish it when it is ready." in response.content.decode()

    response = superuser_client.post(
        url, {"action": "create_draft", "_selected_action": [v1.pk]}, follow=True
    )
    assert "already has a draft (version 2)" in response.content.decode()
    assert Framework.objects.filter(key=HLM_KEY).count() == 2

    response = superuser_client.post(
        url, {"action": "publish_draft", "_selected_action": [draft.pk]}, follow=True
    )
    assert "Published NHS Healthcare Leadership Model version 2" in response.content.decode()
    assert current(HLM_KEY) == draft
    v1.refresh_from_db()
    assert v1.status == Framework.Status.RETIRED

    response = superuser_client.post(
        url, {"action": "publish_draft", "_selected_action": [v1.pk]}, follow=True
    )
    assert "cannot be published again" in response.content.decode()
    assert current(HLM_KEY) == draft


@pytest.mark.django_db
def test_a_version_is_drafted_and_published_from_its_own_page(superuser_client):
    v1 = current(LCF_KEY)

    def act(framework: Framework, action: str):
        return superuser_client.post(
            change_url(framework),
            {
                "CHANGE_FORM-action": action,
                "CHANGE_FORM-select_across": "0",
                "_selected_action": [framework.pk],
            },
            follow=True,
        )

    # The current version's page is read-only but still offers the actions.
    assert 'value="create_draft"' in superuser_client.get(change_url(v1)).content.decode()
    response = act(v1, "create_draft")
    draft = Framework.objects.get(key=LCF_KEY, status=Framework.Status.DRAFT)
    assert response.redirect_chain[-1][0] == change_url(v1)
    assert "Edit it, then publish it when it is ready." in response.content.decode()

    # A draft can be deleted; a published version cannot, singly or in bulk.
    delete_url = reverse("admin:cpd_framework_delete", args=[draft.pk])
    assert superuser_client.get(delete_url).status_code == 200
    v1_delete_url = reverse("admin:cpd_framework_delete", args=[v1.pk])
    assert superuser_client.get(v1_delete_url).status_code == 403

    act(draft, "publish_draft")
    assert current(LCF_KEY) == draft
    assert superuser_client.get(delete_url).status_code == 403


@pytest.mark.django_db
def test_a_new_framework_is_added_as_a_draft_and_cannot_reuse_a_key(superuser_client):
    url = reverse("admin:cpd_framework_add")
    fields = {
        "name": "Local leadership behaviours",
        "short_name": "Local behaviours",
        "source_note": "Ours.",
        "domains-TOTAL_FORMS": "0",
        "domains-INITIAL_FORMS": "0",
    }
    response = superuser_client.post(url, {**fields, "key": HLM_KEY})
    assert response.status_code == 200
    assert "A framework with this key already exists" in response.content.decode()

    assert superuser_client.post(url, {**fields, "key": "local"}).status_code == 302
    added = Framework.objects.get(key="local")
    assert (added.version, added.status, added.is_primary) == (1, Framework.Status.DRAFT, False)


@pytest.mark.django_db
def test_entries_and_evidence_are_read_only_in_the_admin(superuser_client):
    entry = log_entry(current(PRIMARY_KEY).standards.get(code="D4.1"))
    evidence = Evidence.objects.create(
        entry=entry,
        file="x/0123",
        original_name="certificate.pdf",
        content_type="application/pdf",
        size=1234,
    )
    for model in ("entry", "evidence"):
        page = superuser_client.get(reverse(f"admin:cpd_{model}_changelist"))
        assert page.status_code == 200
        assert superuser_client.get(reverse(f"admin:cpd_{model}_add")).status_code == 403

    page = superuser_client.get(change_url(entry)).content.decode()
    assert "D4.1 Patient safety and learning from incidents (v1)" in page
    assert "certificate.pdf" in page and 'name="title"' not in page
    page = superuser_client.get(change_url(evidence)).content.decode()
    assert "certificate.pdf" in page and "x/0123" not in page
    assert superuser_client.post(change_url(entry), {"title": "Changed"}).status_code == 403
    entry.refresh_from_db()
    assert entry.title == "Rota planning masterclass"
