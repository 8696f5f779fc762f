from django.core.management.base import BaseCommand

from api.webhooks import webhook_deliveries_send_due


class Command(BaseCommand):
    help = (
        "Send every webhook delivery whose next attempt is due, in batches per endpoint. "
        "The task worker schedules retries itself; run this every few minutes from cron as a "
        "safety net (after a worker outage, or with a task backend that cannot schedule)."
    )

    def handle(self, *args, **options):
        attempted = webhook_deliveries_send_due()
        self.stdout.write(f"{attempted} due deliveries attempted.")
