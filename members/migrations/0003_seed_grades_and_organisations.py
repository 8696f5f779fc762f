# Seeds the starting grades and a short list of example organisations.
# Registrars change fees and wording in the admin afterwards; this migration
# never overwrites a grade or organisation that already exists.

from django.db import migrations
from django.db.models import Q

GRADES = [
    {
        "name": "Affiliate",
        "slug": "affiliate",
        "post_nominals": "",
        "annual_fee_pence": 4500,
        "cpd_hours_required": 15,
        "requires_review": False,
        "display_order": 1,
        "eligibility": (
            "Anyone who works in or with health services and is interested in management, "
            "including students, people new to management and those thinking about it. "
            "Affiliates do not use letters after their name."
        ),
    },
    {
        "name": "Associate",
        "slug": "associate",
        "post_nominals": "AIHSM",
        "annual_fee_pence": 9500,
        "cpd_hours_required": 30,
        "requires_review": False,
        "display_order": 2,
        "eligibility": (
            "First-line managers: you lead a team or a service day to day, for example as a "
            "ward manager, team leader, practice manager or supervisor."
        ),
    },
    {
        "name": "Member",
        "slug": "member",
        "post_nominals": "MIHSM",
        "annual_fee_pence": 14500,
        "cpd_hours_required": 30,
        "requires_review": False,
        "display_order": 3,
        "eligibility": (
            "Middle and senior managers with at least three years' experience of management, "
            "responsible for a service, a department or a budget."
        ),
    },
    {
        "name": "Fellow",
        "slug": "fellow",
        "post_nominals": "FIHSM",
        "annual_fee_pence": 19500,
        "cpd_hours_required": 30,
        "requires_review": True,
        "display_order": 4,
        "eligibility": (
            "Senior and executive leaders with a substantial record of leading health services "
            "and developing other managers. A registrar reviews every request: tell us about "
            "your experience and your contribution to the profession."
        ),
    },
]

# Fictional, NHS-like names for trying the site; real employers are added in the admin.
ORGANISATIONS = [
    "Northshire NHS Foundation Trust",
    "Southshire Hospitals NHS Trust",
    "Eastmoor Community Health NHS Trust",
    "Westvale Mental Health NHS Foundation Trust",
    "Riverside Ambulance Service NHS Trust",
    "Northshire and Southshire Integrated Care Board",
    "Greenfield Primary Care Network",
]


def seed(apps, schema_editor):
    Grade = apps.get_model("members", "Grade")
    Organisation = apps.get_model("members", "Organisation")
    for grade in GRADES:
        if not Grade.objects.filter(Q(slug=grade["slug"]) | Q(name=grade["name"])).exists():
            Grade.objects.create(**grade)
    for name in ORGANISATIONS:
        if not Organisation.objects.filter(name__iexact=name).exists():
            Organisation.objects.create(name=name)


class Migration(migrations.Migration):
    dependencies = [
        ("members", "0002_membership"),
    ]

    # Nothing to undo: members may already point at these rows.
    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
