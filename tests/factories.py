import datetime as dt

import factory
from allauth.account.models import EmailAddress
from django.utils import timezone

from members.models import User

TEST_PASSWORD = "correct horse battery staple"


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        skip_postgeneration_save = True

    email = factory.Sequence(lambda n: f"person{n}@example.org")
    given_name = factory.Faker("first_name")
    family_name = factory.Faker("last_name")
    password = factory.django.Password(TEST_PASSWORD)

    @factory.post_generation
    def verified(self, create, extracted, **kwargs):
        """Users are created with a verified primary email unless verified=False."""
        if create and extracted is not False:
            EmailAddress.objects.create(user=self, email=self.email, primary=True, verified=True)


class StaffFactory(UserFactory):
    is_staff = True


class AssessorFactory(UserFactory):
    is_assessor = True


class GradeFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = "members.Grade"
        django_get_or_create = ("slug",)

    name = factory.Sequence(lambda n: f"Grade {n}")
    slug = factory.Sequence(lambda n: f"grade-{n}")
    post_nominals = "MIHSM"
    annual_fee_pence = 12000
    cpd_hours_required = 30
    eligibility = "Managers at any level."


class MemberFactory(factory.django.DjangoModelFactory):
    """An applicant, as if just joined; pay an invoice to make one active."""

    class Meta:
        model = "members.Member"

    user = factory.SubFactory(UserFactory)
    grade = factory.SubFactory(GradeFactory)
    status = "applicant"
    status_since = dt.date(2026, 1, 1)
    organisation_other = "Northshire NHS Foundation Trust"
    job_title = "Service manager"
    management_level = "middle"
    register_consent = True
    code_of_conduct_agreed_at = factory.LazyFunction(timezone.now)
