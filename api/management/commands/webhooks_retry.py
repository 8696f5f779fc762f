from django.core.management.base import BaseCommand

from api.webhooks import webhook_deliveries_due, webhook_delivery_attempt


class Command(BaseCommand):
    help = (
        "Send every webhook delivery whose next attempt is due. The task worker "
        "schedules retries itself; run this every few minutes from cron as a safety net "
        "(after a worker outage, or with a task backend that cannot schedule)."
    )

    def handle(self, *args, **options):
        due = webhook_deliveries_due()
        sent = sum(1 for pk in due if webhook_delivery_attempt(delivery_id=pk) is not None)
        self.stdout.write(f"{sent} of {len(due)} due deliveries attempted.")
