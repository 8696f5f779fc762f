# Fellowship is a membership grade awarded on review. The review is an
# accreditation application at this level, so it gets the same assessors,
# judgements, reasons and appeals. Registrars change the level in the admin;
# this migration never overwrites one that exists.

from django.db import migrations


def create(apps, schema_editor):
    Grade = apps.get_model("members", "Grade")
    Framework = apps.get_model("cpd", "Framework")
    Scheme = apps.get_model("accreditation", "Scheme")
    Level = apps.get_model("accreditation", "Level")
    fellow = Grade.objects.filter(slug="fellow", requires_review=True).first()
    if fellow is None or Level.objects.filter(grants_grade=fellow).exists():
        return
    scheme, _ = Scheme.objects.get_or_create(
        slug="fellowship",
        defaults={
            "name": "Fellowship",
            "description": "The Fellow grade, for senior and executive leaders with a "
            "substantial record, awarded on an assessed application.",
        },
    )
    level = Level.objects.create(
        scheme=scheme,
        management_level="senior",
        name="Fellow",
        per_domain_minimum=1,
        min_months_in_role=60,
        cpd_minutes_last_12_months=0,
        requires_last_return_accepted=False,
        referees_required=2,
        assessors_required=1,
        fee_pence=0,
        grants_grade=fellow,
    )
    framework = Framework.objects.filter(is_primary=True, status="current").first()
    if framework is not None:
        level.required_standards.set(framework.standards.all())


class Migration(migrations.Migration):
    dependencies = [
        ("accreditation", "0002_fees_reminders_fellowship"),
        ("cpd", "0002_load_frameworks"),
        ("members", "0003_seed_grades_and_organisations"),
    ]

    operations = [migrations.RunPython(create, migrations.RunPython.noop)]
