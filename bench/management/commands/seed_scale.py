"""Generate realistic data at national scale for the benchmarks (see bench/seeding.py)."""

import json

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import connection

from bench.seeding import ScaleSeeder


class Command(BaseCommand):
    help = (
        "Add N members with realistic histories (grades, organisations, status events, periods, "
        "payments, reminders, about 25 CPD entries each mapped to standards, annual returns, the "
        "audit chain), written in bulk. For benchmarks; refused in production."
    )

    def add_arguments(self, parser):
        parser.add_argument("--members", type=int, required=True, help="How many members to add.")
        parser.add_argument(
            "--seed", type=int, default=1, help="The same seed gives the same data."
        )
        parser.add_argument(
            "--heavy-entries",
            type=int,
            default=500,
            help="CPD entries this year for one extra member (the dashboard's worst case); 0: none.",
        )
        parser.add_argument(
            "--json", action="store_true", help="Print the summary as one line of JSON."
        )

    def handle(self, *args, members, seed, heavy_entries, json=False, **options):
        if settings.PRODUCTION:
            raise CommandError("seed_scale writes made-up people; not in production.")
        if members < 1:
            raise CommandError("--members must be at least 1.")
        log = (lambda message: None) if json else self.stdout.write
        log(f"Seeding {members:,} members on {connection.vendor} (seed {seed})...")
        report = ScaleSeeder(members=members, seed=seed, heavy_entries=heavy_entries, log=log).run()
        if json:
            self.stdout.write(_json_line(report, connection.vendor))
            return
        self.stdout.write(
            f"Seeded {report.members:,} members: {report.total_rows:,} rows "
            f"in {report.seconds:.1f} s on {connection.vendor}."
        )
        for table, count in sorted(report.rows.items()):
            self.stdout.write(f"  {table:<40} {count:>12,}")
        if report.heavy_member_email:
            self.stdout.write(
                f"The member with a long CPD log this year: {report.heavy_member_email}"
            )


def _json_line(report, vendor: str) -> str:
    return json.dumps(
        {
            "members": report.members,
            "seconds": round(report.seconds, 2),
            "database": vendor,
            "rows": report.rows,
            "write_seconds": report.write_seconds,
            "total_rows": report.total_rows,
            "heavy_member_email": report.heavy_member_email,
        }
    )
