"""The daily membership job: run once a day from cron or a systemd timer."""

import datetime as dt

from django.core.management.base import BaseCommand

from members.services import membership_daily_run


class Command(BaseCommand):
    help = (
        "Lift ended suspensions, move members to grace, resigned or lapsed on the right days, "
        "expire certificates past their validity, and send renewal reminders. Safe to run more than once a day."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--date",
            type=dt.date.fromisoformat,
            help="Run as if today were this date (YYYY-MM-DD); for catching up or rehearsing.",
        )

    def handle(self, *args, date=None, **options):
        report = membership_daily_run(today=date)
        self.stdout.write(
            f"Suspensions lifted: {report.suspensions_lifted}; to grace: {report.to_grace}; "
            f"resigned: {report.resigned}; lapsed: {report.lapsed}; "
            f"certificates expired: {report.certificates_expired}; "
            f"reminders sent: {report.reminders_sent}, failed: {report.reminders_failed}"
        )
        if report.reminders_failed:
            self.stderr.write(
                f"{report.reminders_failed} reminders failed; they are retried on the next run."
            )
