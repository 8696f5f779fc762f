"""In-process measurements for bench/run.py, one per subcommand, each printing JSON.

Run as ``python bench/probe.py <subcommand> '<json arguments>'`` with the
benchmark database in DATABASE_URL. Query counts go through Django's test
client, so they cross the same middleware as the requests gunicorn serves.
"""

import json
import os
import random
import resource
import statistics
import sys
import time
from pathlib import Path
from urllib.parse import quote

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

import django  # noqa: E402

django.setup()

from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402

from bench.seeding import HEAVY_MEMBER_EMAIL  # noqa: E402
from members.models import Member, User  # noqa: E402

SAMPLE = 5000


class QueryCounter:
    """Counts every statement sent on the default connection (no 9,000-query cap,
    unlike CaptureQueriesContext, and no DEBUG needed)."""

    def __init__(self):
        self.count = 0

    def __call__(self, execute, sql, params, many, context):
        self.count += 1
        return execute(sql, params, many, context)

    def __enter__(self):
        self._wrapper = connection.execute_wrapper(self)
        self._wrapper.__enter__()
        return self

    def __exit__(self, *exc):
        self._wrapper.__exit__(*exc)

    def __len__(self):
        return self.count


def prepare(args: dict) -> dict:
    """Files of random membership numbers and family names for wrk, and a signed-in
    session for the member with the long CPD log."""
    workdir = Path(args["workdir"])
    workdir.mkdir(parents=True, exist_ok=True)
    numbers = list(
        Member.objects.filter(membership_number__isnull=False)
        .order_by("?")
        .values_list("membership_number", flat=True)[:SAMPLE]
    )
    (workdir / "numbers.txt").write_text("\n".join(numbers) + "\n")
    pairs = list(
        Member.objects.filter(membership_number__isnull=False)
        .order_by("?")
        .values_list("membership_number", "user__family_name")[:SAMPLE]
    )
    (workdir / "pairs.txt").write_text("\n".join(f"{n}\t{f}" for n, f in pairs) + "\n")
    families = sorted({family for _, family in pairs})
    (workdir / "family_names.txt").write_text("\n".join(families) + "\n")
    client = Client()
    heavy = User.objects.get(email=HEAVY_MEMBER_EMAIL)
    client.force_login(heavy)
    api = _api_key()
    return {
        **api,
        "numbers_file": str(workdir / "numbers.txt"),
        "pairs_file": str(workdir / "pairs.txt"),
        "family_names_file": str(workdir / "family_names.txt"),
        "session_cookie": client.cookies["sessionid"].value,
        "members": Member.objects.count(),
    }


def _routes() -> set[str]:
    """Which of the measured API routes this version of the site has."""
    from django.urls import Resolver404, resolve

    found = set()
    for name, path in (
        ("verify", "/api/v1/verify/1000009"),
        ("verify_bulk", "/api/v1/verify/bulk"),
        ("register", "/api/v1/register"),
    ):
        try:
            match = resolve(path)
        except Resolver404:
            continue
        if match.url_name == name:
            found.add(name)
    return found


def _api_key() -> dict:
    """An employer with a verification key for the benchmark, when the API exists."""
    routes = _routes()
    if "verify" not in routes:
        return {"routes": sorted(routes)}
    from api.models import Scope
    from api.services import api_key_create, employer_client_create

    employer = employer_client_create(
        name="Benchmark HR system", contact_email="bench@example.org", actor=None
    )
    new = api_key_create(employer=employer, name="wrk", scopes=[Scope.VERIFY], actor=None)
    return {"routes": sorted(routes), "api_key": new.raw}


def bulk(args: dict) -> dict:
    """POST /api/v1/verify/bulk with 1,000 (number, family name) pairs, in-process:
    queries for the whole request, and the time of each of a few requests."""
    pairs = [
        line.split("\t") for line in Path(args["pairs_file"]).read_text().splitlines() if line
    ][:1000]
    body = json.dumps({"checks": [{"membership_number": n, "family_name": f} for n, f in pairs]})
    client = Client(headers={"Authorization": f"Bearer {args['api_key']}"})
    times, counts, statuses = [], [], set()
    for _ in range(args.get("repeat", 5)):
        with QueryCounter() as counted:
            started = time.perf_counter()
            response = client.post(
                "/api/v1/verify/bulk", data=body, content_type="application/json"
            )
            times.append((time.perf_counter() - started) * 1000)
        counts.append(len(counted))
        statuses.add(response.status_code)
    found = sum(1 for r in response.json().get("results", []) if r.get("found"))
    return {
        "pairs": len(pairs),
        "found": found,
        "in_process_ms": [round(t, 1) for t in times],
        "queries_max": max(counts),
        "statuses": sorted(statuses),
    }


def explain(args: dict) -> dict:
    """The plans of a register search by name on PostgreSQL (the API's first page):
    the matching names come from the trigram index on the names in use, then each
    part of the result (people found by family name, by given name only) should be
    read from the name indexes in register order, never by scanning every user."""
    from api.selectors import register_search

    names = [n for n in Path(args["family_names_file"]).read_text().splitlines() if n]
    rnd = random.Random(2)
    results = {}
    for word in [rnd.choice(names), names[0][:4], "Smyth", "Smith", "Li"]:
        plans = [w.explain(analyze=True) for w in register_search(q=word).windows(limit=26)]
        plan = "\n-- next part --\n".join(plans)
        results[word] = {
            "plan": plan,
            "uses_index": bool(plans)
            and all(" Index " in p or "Bitmap Index Scan" in p for p in plans),
            "seq_scan_on_users": "Seq Scan on members_user" in plan,
        }
    return results


def _rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def pdf(args: dict) -> dict:
    """Render certificate PDFs one after another as the task worker does
    (``certificate_pdf_render``: read, render with WeasyPrint, store, save), timing
    each and reading this process's resident memory after each."""
    from accreditation.models import Certificate
    from accreditation.tasks import certificate_pdf_render

    count = args.get("count", 200)
    ids = list(Certificate.objects.order_by("?").values_list("pk", flat=True)[:count])
    times, rss = [], []
    for pk in ids:
        started = time.perf_counter()
        certificate_pdf_render.call(certificate_id=pk)
        times.append((time.perf_counter() - started) * 1000)
        rss.append(_rss_mb())
    stored = Certificate.objects.filter(pk__in=ids, pdf_version__gte=1).count()
    ordered = sorted(times)
    marks = {str(n): round(rss[n - 1], 1) for n in (1, 50, 100, 150, 200) if n <= len(rss)}
    return {
        "renders": len(ids),
        "stored": stored,
        "first_ms": round(times[0], 1) if times else None,
        "p50_ms": round(ordered[len(ordered) // 2], 1) if times else None,
        "p99_ms": round(ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))], 1)
        if times
        else None,
        "mean_ms": round(statistics.mean(times), 1) if times else None,
        "rss_mb_after": marks,
        "rss_growth_50_to_last_mb": round(rss[-1] - rss[min(49, len(rss) - 1)], 1) if rss else None,
        "command": "accreditation.tasks.certificate_pdf_render, 200 certificates in one process",
    }


def webhooks_ready() -> bool:
    try:
        import api.webhooks  # noqa: F401
        from api.models import WatchEntry, WebhookEndpoint  # noqa: F401
    except ImportError:
        return False
    return True


def webhooks_setup(args: dict) -> dict:
    """An employer watching ``count`` active members, with one endpoint: the
    benchmark's local receiver."""
    from api.models import WatchEntry
    from api.services import employer_client_create
    from api.webhooks import webhook_endpoint_create

    employer = employer_client_create(
        name="Benchmark webhook receiver", contact_email="hooks@example.org", actor=None
    )
    webhook_endpoint_create(employer=employer, url=args["url"], description="bench")
    members = list(
        Member.objects.filter(status="active", resign_at_period_end=False)
        .order_by("?")
        .values_list("pk", "membership_number", "user__family_name")[: args["count"]]
    )
    WatchEntry.objects.bulk_create(
        [
            WatchEntry(employer=employer, member_id=pk, membership_number=n, family_name=f)
            for pk, n, f in members
        ],
        batch_size=2000,
    )
    return {"employer": employer.pk, "watched": [pk for pk, _, _ in members]}


def webhooks_trigger(args: dict) -> dict:
    """Move the watched members to grace in one set-based step, as the daily job does
    (one audit append, so one fan-out task). The members' own emails are left out,
    so the task worker does only webhook work while it is timed."""
    from unittest import mock

    from django.db import transaction

    from members import services as member_services
    from members.models import Status

    started = time.perf_counter()
    with (
        mock.patch.object(member_services, "member_email_enqueue"),
        transaction.atomic(),
    ):
        members = list(
            Member.objects.select_for_update().filter(pk__in=args["watched"]).order_by("pk")
        )
        today = member_services.local_today()
        member_services._bulk_status_change(
            members,
            Status.GRACE,
            reason="Benchmark: status changes for watched members",
            effective_dates={m.pk: today for m in members},
            email="grace",
        )
    return {"changed": len(members), "seconds": round(time.perf_counter() - started, 3)}


def webhooks_count(args: dict) -> dict:
    from api.models import WebhookDelivery

    return {
        status: WebhookDelivery.objects.filter(status=status).count()
        for status in ("pending", "delivered", "failed")
    }


def queries(args: dict) -> dict:
    """SQL queries per request for each endpoint, over a sample of its random paths."""
    results = {}
    for endpoint in args["endpoints"]:
        values = Path(endpoint["values_file"]).read_text().split("\n")
        values = [v for v in values if v]
        client = Client(headers=dict(_header(h) for h in endpoint.get("headers", [])))
        if endpoint.get("cookie"):
            client.cookies["sessionid"] = endpoint["cookie"]
        counts, statuses = [], set()
        rnd = random.Random(1)
        client.get(endpoint["template"] % tuple(["1"] * endpoint["template"].count("%s")))
        for _ in range(endpoint.get("samples", 20)):
            fields = tuple(quote(v, safe="-._~") for v in rnd.choice(values).split("\t"))
            path = endpoint["template"] % fields
            with QueryCounter() as captured:
                response = client.get(path)
            counts.append(len(captured))
            statuses.add(response.status_code)
        results[endpoint["name"]] = {
            "queries_max": max(counts),
            "queries_median": statistics.median(counts),
            "statuses": sorted(statuses),
        }
    return results


def _header(text: str) -> tuple[str, str]:
    name, value = text.split(":", 1)
    return name.strip(), value.strip()


def daily(args: dict) -> dict:
    """Every daily job (each ``*_daily`` command) over the whole register, as cron runs
    it today; and the CPD job on its heaviest day, the CPD year's last, when every
    member's annual return opens."""
    from io import StringIO

    from django.core.management import call_command, get_commands, load_command_class

    from cpd.selectors import cpd_year_containing
    from members import services as member_services

    today = member_services.local_today()
    year_end = cpd_year_containing(today).ends_on
    commands = get_commands()
    runs = [(name, name, []) for name in sorted(commands) if name.endswith("_daily")]
    # Imports and the connection first, so the first job timed does not pay for them.
    for _, name, _ in runs:
        load_command_class(commands[name], name)
    connection.ensure_connection()
    if "cpd_daily" in get_commands():
        runs.append(("cpd_daily on the year's last day", "cpd_daily", [f"--date={year_end}"]))
    results = {}
    for label, command, argv in runs:
        out = StringIO()
        with QueryCounter() as captured:
            started = time.perf_counter()
            call_command(command, *argv, stdout=out, stderr=out)
            seconds = time.perf_counter() - started
        results[label] = {
            "seconds": round(seconds, 3),
            "queries": len(captured),
            # The process's peak so far (each job runs after the ones before it).
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
            "command": " ".join(["manage.py", command, *argv]),
            "output": out.getvalue().strip()[:500],
        }
    return results


COMMANDS = {
    "prepare": prepare,
    "queries": queries,
    "daily": daily,
    "bulk": bulk,
    "explain": explain,
    "pdf": pdf,
    "webhooks_ready": lambda args: {"ready": webhooks_ready()},
    "webhooks_setup": webhooks_setup,
    "webhooks_trigger": webhooks_trigger,
    "webhooks_count": webhooks_count,
}


if __name__ == "__main__":
    command, raw = sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else "{}"
    print(json.dumps(COMMANDS[command](json.loads(raw)), default=str))
