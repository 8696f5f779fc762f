"""The benchmark suite (``make bench``): seed, serve with gunicorn, load with wrk, measure.

For each size (default 10,000 and 100,000 members) it recreates the benchmark
database on PostgreSQL, migrates, runs ``seed_scale`` (timed), starts gunicorn
on loopback with the floors mounted, drives each endpoint with wrk for a fixed
time, counts the SQL queries per request in-process, reads the workers' peak
memory from /proc, and finally times the daily jobs. It also times seeding the
largest size on SQLite. Everything it measures is printed as it goes and
written to bench/results/latest.json, which bench/report.py turns into
docs/benchmarks.md.

    python bench/run.py [--members 10000 100000] [--duration 10] [--no-sqlite]

The database comes from BENCH_DATABASE_URL (default
postgres://postgres@127.0.0.1:5432/benchdata); it is dropped and recreated.
"""

import argparse
import datetime as dt
import json
import os
import platform
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
RESULTS = ROOT / "bench" / "results" / "latest.json"
LUA = ROOT / "bench" / "lua" / "random_path.lua"
DEFAULT_DB = "postgres://postgres@127.0.0.1:5432/benchdata"
PORT = int(os.environ.get("BENCH_PORT", "8765"))


def say(message: str) -> None:
    print(message, flush=True)


# --- The environment the site runs in -----------------------------------------------------


MEDIA = Path(tempfile.gettempdir()) / "register-bench-media"


def site_env(database_url: str) -> dict[str, str]:
    """Development settings with debug off and persistent connections, as a deployment
    would run (production's HTTPS redirect and secrets would only get in the way here)."""
    env = dict(os.environ)
    env.update(
        # Rendered PDFs and evidence go to a scratch folder, not the project's media/.
        MEDIA_ROOT=str(MEDIA),
        EVIDENCE_ROOT=str(MEDIA / "evidence"),
        DJANGO_ENV="development",
        DEBUG="false",
        DATABASE_URL=database_url,
        CONN_MAX_AGE="60",
        ALLOWED_HOSTS="127.0.0.1,localhost,testserver",
        BENCH_ENDPOINTS="1",
        EMAIL_BACKEND="django.core.mail.backends.locmem.EmailBackend",
        LOG_LEVEL="WARNING",
        # The API's rate limits would turn a load test into a test of the 429 page.
        API_RATE_PER_KEY="100000000/minute",
        API_RATE_VERIFY="100000000/minute",
        API_RATE_VERIFY_BULK="100000000/minute",
        API_RATE_REGISTER="100000000/minute",
        PYTHONDONTWRITEBYTECODE="1",
    )
    return env


def manage(env: dict, *args: str, capture: bool = True) -> str:
    result = subprocess.run(
        [PYTHON, str(ROOT / "manage.py"), *args],
        env=env,
        cwd=ROOT,
        capture_output=capture,
        text=True,
        check=False,
    )
    if result.returncode:
        raise SystemExit(f"manage.py {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
    return result.stdout or ""


def probe(env: dict, command: str, args: dict | None = None) -> dict:
    result = subprocess.run(
        [PYTHON, str(ROOT / "bench" / "probe.py"), command, json.dumps(args or {})],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode:
        raise SystemExit(f"probe {command} failed:\n{result.stdout}\n{result.stderr}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def _children_peak_mb() -> float:
    """The largest peak RSS of any child process so far (seeding is the largest)."""
    import resource

    return round(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024, 1)


def recreate_database(database_url: str) -> None:
    import psycopg

    parts = urlsplit(database_url)
    name = parts.path.lstrip("/")
    if not re.fullmatch(r"[A-Za-z0-9_]+", name):
        raise SystemExit(f"Refusing an unusual database name: {name!r}")
    admin = parts._replace(path="/postgres").geturl()
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


def machine() -> dict:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
        mem_kb = int(Path("/proc/meminfo").read_text().split()[1])
    except OSError:
        mem_kb = 0
    return {
        "cores": os.cpu_count(),
        "cpu": cpu,
        "memory_gb": round(mem_kb / 1024 / 1024, 1),
        "os": platform.platform(),
        "python": platform.python_version(),
        # Anything else running skews every figure: the 1, 5 and 15-minute load averages.
        "load_at_start": [round(x, 2) for x in os.getloadavg()],
    }


# --- gunicorn and wrk ---------------------------------------------------------------------


class Server:
    """gunicorn on loopback with bench/gunicorn.conf.py."""

    def __init__(self, env: dict):
        self.env = {**env, "BENCH_PORT": str(PORT)}
        self.process = None

    def __enter__(self):
        self.process = subprocess.Popen(
            [
                PYTHON,
                "-m",
                "gunicorn",
                "config.wsgi",
                "-c",
                str(ROOT / "bench" / "gunicorn.conf.py"),
            ],
            env=self.env,
            cwd=ROOT,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{PORT}/healthz", timeout=2) as r:
                    if r.status == 200:
                        time.sleep(0.5)
                        return self
            except OSError:
                time.sleep(0.3)
        raise SystemExit("gunicorn did not answer /healthz within 60 s")

    def __exit__(self, *exc):
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()

    def workers(self) -> list[int]:
        pids = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == self.process.pid:
                pids.append(int(entry.name))
        return pids

    def memory(self) -> dict:
        """Each worker's resident memory now and at its peak (VmRSS, VmHWM), in MB."""
        rss, peak = [], []
        for pid in self.workers():
            try:
                status = Path(f"/proc/{pid}/status").read_text()
            except OSError:
                continue
            fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
            rss.append(int(fields["VmRSS"].split()[0]) / 1024)
            peak.append(int(fields["VmHWM"].split()[0]) / 1024)
        return {
            "workers": len(rss),
            "rss_mb_max": round(max(rss, default=0), 1),
            "peak_mb_max": round(max(peak, default=0), 1),
        }


def wrk(
    template: str,
    values_file: str,
    *,
    duration: int,
    connections: int,
    threads: int,
    headers=(),
) -> dict:
    url = f"http://127.0.0.1:{PORT}"
    command = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{duration}s", "--timeout", "10s"]
    command += ["-s", str(LUA), url, "--", values_file, template, *headers]
    output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    line = next(line for line in output.splitlines() if line.startswith("WRK_JSON "))
    result = json.loads(line.removeprefix("WRK_JSON "))
    result["command"] = " ".join(
        [
            "wrk",
            f"-t{threads}",
            f"-c{connections}",
            f"-d{duration}s",
            "-s bench/lua/random_path.lua",
            url + template.replace("%s", "{random}"),
        ]
    )
    return result


# --- What is measured ---------------------------------------------------------------------


class Receiver:
    """A local webhook receiver: answers 204 to every POST, counting them and
    noting when the last one arrived."""

    def __init__(self, port: int):
        import http.server
        import threading

        receiver = self
        self.count = 0
        self.last = 0.0
        self.lock = threading.Lock()

        class Handler(http.server.BaseHTTPRequestHandler):
            # Keeps connections alive, as receivers' HTTP/1.1 servers do; the status
            # line and headers are separate writes, which Nagle would hold back.
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True

            def do_POST(self):
                self.rfile.read(int(self.headers.get("Content-Length", 0)))
                self.send_response(204)
                self.end_headers()
                with receiver.lock:
                    receiver.count += 1
                    receiver.last = time.perf_counter()

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()


def webhooks(env: dict, *, count: int = 10_000, workers: int = 2, limit: int = 150) -> dict:
    """10,000 status changes for watched members, delivered by ``workers`` task workers
    (manage.py db_worker) to a local receiver: deliveries per second from the
    commit of the changes to the last delivery received."""
    port = PORT + 1
    with Receiver(port) as receiver:
        setup = probe(
            env, "webhooks_setup", {"url": f"http://127.0.0.1:{port}/hook", "count": count}
        )
        trigger = probe(env, "webhooks_trigger", {"watched": setup["watched"]})
        started = time.perf_counter()
        processes = [
            subprocess.Popen(
                [
                    PYTHON,
                    str(ROOT / "manage.py"),
                    "db_worker",
                    "--queue-name",
                    "*",
                    "--interval",
                    "0.1",
                    "--no-reload",
                    "--no-startup-delay",
                ],
                env=env,
                cwd=ROOT,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            for _ in range(workers)
        ]
        try:
            deadline = started + limit
            while receiver.count < len(setup["watched"]) and time.perf_counter() < deadline:
                time.sleep(0.2)
        finally:
            for process in processes:
                process.terminate()
            for process in processes:
                try:
                    process.wait(timeout=30)
                except subprocess.TimeoutExpired:  # still inside a task: stop it
                    process.kill()
                    process.wait()
        elapsed = (receiver.last or time.perf_counter()) - started
    counts = probe(env, "webhooks_count")
    return {
        "status_changes": trigger["changed"],
        "received": receiver.count,
        "seconds": round(elapsed, 2),
        "deliveries_per_second": round(receiver.count / elapsed, 1) if elapsed > 0 else None,
        "workers": workers,
        "deliveries": counts,
        "command": f"{workers} × manage.py db_worker; receiver on 127.0.0.1:{port}",
    }


def endpoints(files: dict) -> list[dict]:
    """Each endpoint wrk drives: throughput ones with 16 connections, pages one at a
    time (their latency is the time a person waits)."""
    cookie = [f"Cookie: sessionid={files['session_cookie']}"]
    found = [
        {
            "name": "floor_a",
            "label": "Floor (a): DRF, fixed JSON, no database",
            "template": "/bench/floor/static?%s",
            "values_file": files["numbers_file"],
            "connections": 16,
        },
        {
            "name": "floor_b",
            "label": "Floor (b): DRF, one row by unique index, five fields",
            "template": "/bench/floor/row/%s",
            "values_file": files["numbers_file"],
            "connections": 16,
        },
        {
            "name": "cpd_progress",
            "label": "CPD dashboard (progress), member with 500 entries",
            "template": "/cpd/progress/?%s",
            "values_file": files["numbers_file"],
            "connections": 1,
            "headers": cookie,
            "cookie": files["session_cookie"],
        },
        {
            "name": "cpd_log",
            "label": "CPD log, member with 500 entries",
            "template": "/cpd/?%s",
            "values_file": files["numbers_file"],
            "connections": 1,
            "headers": cookie,
            "cookie": files["session_cookie"],
        },
        {
            "name": "dashboard",
            "label": "Member dashboard, member with 500 entries",
            "template": "/dashboard/?%s",
            "values_file": files["numbers_file"],
            "connections": 1,
            "headers": cookie,
            "cookie": files["session_cookie"],
        },
    ]
    routes = set(files.get("routes", []))
    if files.get("api_key") and "verify" in routes:
        found.insert(
            2,
            {
                "name": "verify",
                "label": "Single verification, API key, lookup logged",
                "template": "/api/v1/verify/%s?family_name=%s",
                "values_file": files["pairs_file"],
                "connections": 16,
                "headers": [f"Authorization: Bearer {files['api_key']}"],
            },
        )
    if "register" in routes:
        # Its latency target is the time one person waits, so it is measured one
        # search at a time as well as for throughput (where 16 connections share 3
        # workers and every search also waits behind the others).
        search = {
            "template": "/api/v1/register?q=%s",
            "values_file": files["family_names_file"],
        }
        found.insert(
            3,
            {
                "name": "register_search",
                "label": "Public register search by family name, 16 at once",
                "connections": 16,
                **search,
            },
        )
        found.insert(
            4,
            {
                "name": "register_search_wait",
                "label": "Public register search by family name, one at a time",
                "connections": 1,
                **search,
            },
        )
    return found


def bulk_over_http(files: dict, repeat: int = 10) -> dict:
    """POST /api/v1/verify/bulk with 1,000 pairs to gunicorn, one after another."""
    pairs = [line.split("\t") for line in Path(files["pairs_file"]).read_text().splitlines()]
    body = json.dumps(
        {"checks": [{"membership_number": n, "family_name": f} for n, f in pairs[:1000]]}
    ).encode()
    times = []
    for _ in range(repeat):
        request = urllib.request.Request(
            f"http://127.0.0.1:{PORT}/api/v1/verify/bulk",
            data=body,
            headers={
                "Authorization": f"Bearer {files['api_key']}",
                "Content-Type": "application/json",
            },
        )
        started = time.perf_counter()
        with urllib.request.urlopen(request, timeout=60) as response:  # noqa: S310 (loopback)
            response.read()
        times.append((time.perf_counter() - started) * 1000)
    times.sort()
    return {
        "requests": repeat,
        "p50_ms": round(times[len(times) // 2], 1),
        "max_ms": round(times[-1], 1),
        "command": f"POST /api/v1/verify/bulk with 1,000 pairs, {repeat} times in a row",
    }


def measure_size(members: int, args, database_url: str, workdir: Path) -> dict:
    env = site_env(database_url)
    result: dict = {"members": members}
    say(f"\n== {members:,} members on PostgreSQL ==")
    recreate_database(database_url)
    started = time.perf_counter()
    manage(env, "migrate", "--noinput")
    say(f"migrate: {time.perf_counter() - started:.1f} s")
    started = time.perf_counter()
    seed = json.loads(manage(env, "seed_scale", f"--members={members}", "--json").splitlines()[-1])
    seed["wall_seconds"] = round(time.perf_counter() - started, 1)
    seed["peak_rss_mb"] = _children_peak_mb()
    result["seed"] = seed
    say(
        f"seed_scale --members {members}: {seed['seconds']:.1f} s "
        f"({seed['total_rows']:,} rows; {seed['wall_seconds']:.1f} s with start-up)"
    )
    files = probe(env, "prepare", {"workdir": str(workdir)})
    specs = endpoints(files)
    result["endpoints"] = {}
    with Server(env) as server:
        result["memory_at_start"] = server.memory()
        for spec in specs:
            # A short warm-up, so every worker has its imports and connection.
            wrk(spec["template"], spec["values_file"], duration=1, connections=spec["connections"],
                threads=1, headers=spec.get("headers", ()))  # fmt: skip
            figures = wrk(
                spec["template"],
                spec["values_file"],
                duration=args.duration,
                connections=spec["connections"],
                threads=2 if spec["connections"] > 1 else 1,
                headers=spec.get("headers", ()),
            )
            figures["memory"] = server.memory()
            figures["label"] = spec["label"]
            figures["throughput"] = spec["connections"] > 1
            result["endpoints"][spec["name"]] = figures
            say(
                f"{spec['label']}: {figures['rps']:,.0f} req/s, p50 {figures['p50_ms']:.2f} ms, "
                f"p99 {figures['p99_ms']:.2f} ms, errors {figures['non_2xx'] + figures['socket_errors']}, "
                f"worker peak {figures['memory']['peak_mb_max']} MB"
            )
        if files.get("api_key") and "verify_bulk" in files.get("routes", []):
            result["bulk"] = bulk_over_http(files)
            result["bulk"]["memory"] = server.memory()
            say(
                f"Bulk verification of 1,000 pairs over HTTP: p50 {result['bulk']['p50_ms']} ms, "
                f"max {result['bulk']['max_ms']} ms"
            )
    if "bulk" in result:
        result["bulk"].update(probe(env, "bulk", files))
        say(
            f"Bulk verification, queries per request: {result['bulk']['queries_max']} "
            f"({result['bulk']['found']} of {result['bulk']['pairs']} found)"
        )
    if "register" in files.get("routes", []) and database_url.startswith("postgres"):
        result["explain"] = probe(env, "explain", files)
        for word, plan in result["explain"].items():
            say(
                f"EXPLAIN register search {word!r}: index used {plan['uses_index']}, "
                f"sequential scan of users {plan['seq_scan_on_users']}"
            )
    counted = probe(env, "queries", {"endpoints": specs})
    for name, figures in counted.items():
        result["endpoints"][name].update(figures)
        say(
            f"queries per request, {name}: {figures['queries_max']} (statuses {figures['statuses']})"
        )
    floor_b = result["endpoints"]["floor_b"]["rps"]
    for figures in result["endpoints"].values():
        figures["ratio_to_floor_b"] = round(figures["rps"] / floor_b, 3) if floor_b else None
    if args.pdf and members == max(args.members):
        result["pdf"] = probe(env, "pdf", {"count": 200})
        pdf = result["pdf"]
        say(
            f"Certificate PDF, {pdf['renders']} renders: p50 {pdf['p50_ms']} ms, "
            f"p99 {pdf['p99_ms']} ms (first {pdf['first_ms']} ms); worker RSS after "
            f"{pdf['rss_mb_after']} MB, growth from the 50th {pdf['rss_growth_50_to_last_mb']} MB"
        )
    if args.webhooks and members == max(args.members) and probe(env, "webhooks_ready")["ready"]:
        result["webhooks"] = hooks = webhooks(env)
        say(
            f"Webhook fan-out: {hooks['received']:,} of {hooks['status_changes']:,} delivered in "
            f"{hooks['seconds']} s, {hooks['deliveries_per_second']} deliveries/s "
            f"({hooks['workers']} workers; {hooks['deliveries']})"
        )
    result["daily"] = probe(env, "daily")
    for name, figures in result["daily"].items():
        say(
            f"{name}: {figures['seconds']:.2f} s, {figures['queries']:,} queries ({figures['output'][:120]})"
        )
    return result


def sqlite_seed(members: int) -> dict:
    """Seeding on SQLite, for comparison: a fresh file, migrated, then seed_scale."""
    path = Path(tempfile.mkdtemp(prefix="bench-sqlite-")) / "db.sqlite3"
    env = site_env(f"sqlite:///{path}")
    say(f"\n== seed_scale --members {members:,} on SQLite ==")
    manage(env, "migrate", "--noinput")
    started = time.perf_counter()
    seed = json.loads(manage(env, "seed_scale", f"--members={members}", "--json").splitlines()[-1])
    seed["wall_seconds"] = round(time.perf_counter() - started, 1)
    seed["file_mb"] = round(path.stat().st_size / 1024 / 1024)
    seed["peak_rss_mb"] = _children_peak_mb()
    shutil.rmtree(path.parent, ignore_errors=True)
    say(
        f"seed_scale on SQLite: {seed['seconds']:.1f} s ({seed['total_rows']:,} rows, {seed['file_mb']} MB)"
    )
    return seed


def postgres_version(database_url: str) -> str:
    import psycopg

    with psycopg.connect(database_url) as conn:
        return conn.execute("SHOW server_version").fetchone()[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--members", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--duration", type=int, default=8, help="seconds of load per endpoint")
    parser.add_argument("--no-sqlite", action="store_true", help="skip timing seeding on SQLite")
    parser.add_argument(
        "--no-pdf", dest="pdf", action="store_false", help="skip the 200 certificate PDFs"
    )
    parser.add_argument(
        "--no-webhooks", dest="webhooks", action="store_false", help="skip the webhook fan-out"
    )
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is missing: apt-get install wrk (make bench installs it).")
    database_url = os.environ.get("BENCH_DATABASE_URL", DEFAULT_DB)
    started = time.perf_counter()
    results = {
        "started_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "command": " ".join(["python bench/run.py", *sys.argv[1:]]),
        "machine": machine(),
        "duration_per_endpoint_s": args.duration,
        "gunicorn_workers": int(os.environ.get("BENCH_WORKERS", (os.cpu_count() or 1) + 1)),
        "sizes": [],
    }
    workdir = Path(tempfile.mkdtemp(prefix="bench-"))
    for members in args.members:
        results["sizes"].append(measure_size(members, args, database_url, workdir))
    results["machine"]["database"] = "PostgreSQL " + postgres_version(database_url)
    if not args.no_sqlite:
        results["sqlite_seed"] = sqlite_seed(max(args.members))
    results["total_seconds"] = round(time.perf_counter() - started, 1)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    shutil.rmtree(workdir, ignore_errors=True)
    say(f"\nAll figures written to {args.out} in {results['total_seconds']:.0f} s.")


if __name__ == "__main__":
    main()
