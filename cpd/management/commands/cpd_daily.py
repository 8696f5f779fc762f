"""The daily CPD job: run once a day from cron or a systemd timer."""

import datetime as dt

from django.core.management.base import BaseCommand

from cpd.returns import cpd_daily_run


class Command(BaseCommand):
    help = (
        "Open annual CPD returns when a CPD year ends and send return reminders (year end, "
        "14 days before due, due day), each once. Safe to run more than once a day."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--date",
            type=dt.date.fromisoformat,
            help="Run as if today were this date (YYYY-MM-DD); for catching up or rehearsing.",
        )

    def handle(self, *args, date=None, **options):
        report = cpd_daily_run(today=date)
        self.stdout.write(
            f"Returns opened: {report.returns_opened}; reminders sent: {report.reminders_sent}"
        )
