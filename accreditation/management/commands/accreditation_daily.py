"""The daily accreditation job: run once a day from cron or a systemd timer."""

from django.core.management.base import BaseCommand

from accreditation.services import referee_reminders_send


class Command(BaseCommand):
    help = "Remind referees who have not answered. Safe to run more than once a day."

    def handle(self, *args, **options):
        sent = referee_reminders_send()
        self.stdout.write(f"Referee reminders sent: {sent}")
