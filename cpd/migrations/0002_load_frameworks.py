# Loads our management standards, the NHS Healthcare Leadership Model's
# dimensions and the board Leadership Competency Framework's domains, with the
# crosswalk between them (the content is in cpd/frameworks.py). A family that
# already exists is left alone, so registrars' later versions are never overwritten.

from django.db import migrations

from cpd.frameworks import frameworks_load


def load(apps, schema_editor):
    frameworks_load(apps)


class Migration(migrations.Migration):
    dependencies = [
        ("cpd", "0001_initial"),
    ]

    operations = [
        migrations.RunPython(load, migrations.RunPython.noop),
    ]
