from django.core.management.base import BaseCommand, CommandError

from audit.selectors import audit_chain_verify


class Command(BaseCommand):
    help = "Check the audit log's hash chain; exit non-zero at the first broken link."

    def handle(self, *args, **options):
        checked, broken = audit_chain_verify()
        if broken:
            raise CommandError(
                f"Audit chain broken at event #{broken.sequence}: {broken.problem}. "
                f"{checked} events before it are intact."
            )
        self.stdout.write(self.style.SUCCESS(f"Audit chain intact: {checked} events verified."))
