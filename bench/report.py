"""Render docs/benchmarks.md from bench/results/latest.json (what bench/run.py printed).

    python bench/report.py [--results bench/results/latest.json] [--out docs/benchmarks.md]

Every number in the report comes from the results file; the hand-written
findings (profiles, causes, fixes) come from bench/findings.md.
"""

import argparse
import json
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _n(value, digits=0) -> str:
    if value is None:
        return "–"
    return f"{value:,.{digits}f}"


def _ms(value) -> str:
    return "–" if value is None else f"{value:,.1f} ms" if value >= 10 else f"{value:,.2f} ms"


def _met(ok) -> str:
    return "–" if ok is None else "met" if ok else "**missed**"


# name -> (the item, target in words, check(figures) -> bool | None)
TARGETS = {
    "floor_a": ("1a", "the framework's ceiling", None),
    "floor_b": ("1b", "the register's floor", None),
    "verify": (
        "2",
        "≥ 70% of floor (b), ≤ 3 queries",
        lambda f: f.get("ratio_to_floor_b", 0) >= 0.7 and f.get("queries_max", 99) <= 3,
    ),
    "register_search": ("4", "throughput, for reference", None),
    "register_search_wait": ("4", "p99 < 50 ms", lambda f: f["p99_ms"] < 50),
    "cpd_progress": (
        "5",
        "≤ 10 queries, < 150 ms",
        lambda f: f.get("queries_max", 99) <= 10 and f["p99_ms"] < 150,
    ),
    "dashboard": ("5", "for reference (membership, invoices, goals)", None),
    "cpd_log": ("5", "for reference (a page of 20, filters)", None),
}


def endpoint_table(size: dict) -> list[str]:
    lines = [
        "| # | endpoint | req/s | p50 | p99 | queries / request | worker peak RSS | "
        "× floor (b) | target (p99 for times) | |",
        "|---|---|---:|---:|---:|---:|---:|---:|---|---|",
    ]
    for name, f in size["endpoints"].items():
        item, target, check = TARGETS.get(name, ("", "", None))
        errors = f["non_2xx"] + f["socket_errors"]
        label = f["label"] + (f" ({errors} errors)" if errors else "")
        lines.append(
            f"| {item} | {label} | {_n(f['rps'])} | {_ms(f['p50_ms'])} | {_ms(f['p99_ms'])} | "
            f"{f.get('queries_max', '–')} | {_n(f['memory']['peak_mb_max'])} MB | "
            f"{_n(f.get('ratio_to_floor_b'), 2) if f.get('throughput') else '–'} | {target} | "
            f"{_met(check(f) if check else None)} |"
        )
    return lines


def bulk_and_explain(size: dict) -> list[str]:
    lines = []
    bulk = size.get("bulk")
    if bulk:
        ok = bulk["queries_max"] <= 10 and bulk["p50_ms"] < 250
        lines += [
            "### Bulk verification (item 3)",
            "",
            "| what | p50 | max | queries / request | found | worker peak RSS | target | |",
            "|---|---:|---:|---:|---:|---:|---|---|",
            f"| {bulk['command']} | {_ms(bulk['p50_ms'])} | {_ms(bulk['max_ms'])} | "
            f"{bulk['queries_max']} | {bulk['found']} of {bulk['pairs']} | "
            f"{_n(bulk['memory']['peak_mb_max'])} MB | ≤ 10 queries, < 250 ms | {_met(ok)} |",
            "",
        ]
    explain = size.get("explain")
    if explain:
        lines += ["### The register search's plan (item 4)", ""]
        for word, plan in explain.items():
            verdict = (
                "uses an index"
                if plan["uses_index"] and not plan["seq_scan_on_users"]
                else "**scans the users table**"
            )
            lines += [f"`EXPLAIN ANALYZE` of the search for “{word}”: {verdict}.", ""]
        first = next(iter(explain.values()))
        lines += ["```", first["plan"], "```", ""]
    return lines


def pdf_table(size: dict) -> list[str]:
    pdf = size.get("pdf")
    if not pdf:
        return []
    marks = ", ".join(f"{n}: {mb} MB" for n, mb in pdf["rss_mb_after"].items())
    flat = pdf["rss_growth_50_to_last_mb"] is not None and pdf["rss_growth_50_to_last_mb"] < 10
    ok = pdf["p50_ms"] < 500 and pdf["p99_ms"] < 500 and flat
    return [
        "### Certificate PDFs (item 6)",
        "",
        "| what | renders | p50 | p99 | first | worker RSS after n renders | growth after the 50th "
        "| target | |",
        "|---|---:|---:|---:|---:|---|---:|---|---|",
        f"| {pdf['command']} | {pdf['renders']} | {_ms(pdf['p50_ms'])} | {_ms(pdf['p99_ms'])} | "
        f"{_ms(pdf['first_ms'])} | {marks} | {pdf['rss_growth_50_to_last_mb']} MB | "
        f"< 500 ms each, flat memory | {_met(ok)} |",
        "",
    ]


def webhooks_table(size: dict) -> list[str]:
    hooks = size.get("webhooks")
    if not hooks:
        return []
    ok = (
        hooks["received"] >= hooks["status_changes"]
        and (hooks["deliveries_per_second"] or 0) >= 200
    )
    return [
        "### Webhook fan-out (item 8)",
        "",
        "| what | status changes | delivered | seconds | deliveries/s | target | |",
        "|---|---:|---:|---:|---:|---|---|",
        f"| {hooks['command']} | {hooks['status_changes']:,} | {hooks['received']:,} | "
        f"{hooks['seconds']} | {_n(hooks['deliveries_per_second'])} | ≥ 200/s | {_met(ok)} |",
        "",
    ]


def commands_table(size: dict) -> list[str]:
    lines = ["| endpoint | command |", "|---|---|"]
    for f in size["endpoints"].values():
        lines.append(f"| {f['label']} | `{f['command']}` |")
    return lines


def daily_table(sizes: list[dict]) -> list[str]:
    names = list(sizes[-1]["daily"])
    head = " | ".join(f"{s['members']:,} members" for s in sizes)
    lines = [
        f"| job | command | {head} | queries at {sizes[-1]['members']:,} | peak RSS | target |",
        "|---|---|" + "---:|" * len(sizes) + "---:|---:|---|",
    ]
    for name in names:
        cells = " | ".join(_n(s["daily"].get(name, {}).get("seconds"), 2) + " s" for s in sizes)
        last = sizes[-1]["daily"][name]
        seconds = last["seconds"]
        target = f"< 30 s: {_met(seconds < 30)}" if sizes[-1]["members"] >= 100_000 else "< 30 s"
        lines.append(
            f"| {name} | `{last['command']}` | {cells} | {_n(last['queries'])} | "
            f"{_n(last.get('peak_rss_mb'))} MB | {target} |"
        )
    lines.append("")
    lines.append("What each run did (its own output):")
    lines.append("")
    for name in names:
        lines.append(f"- {name}: {sizes[-1]['daily'][name]['output'] or '(nothing printed)'}")
    return lines


def growth(sizes: list[dict]) -> list[str]:
    if len(sizes) < 2:
        return ["Only one size was run."]
    small, large = sizes[0], sizes[-1]
    factor = large["members"] / small["members"]
    lines = [
        f"| figure | {small['members']:,} | {large['members']:,} | change |",
        "|---|---:|---:|---:|",
    ]
    for name, f in large["endpoints"].items():
        g = small["endpoints"].get(name)
        if not g:
            continue
        lines.append(
            f"| {f['label']}: p50 | {_ms(g['p50_ms'])} | {_ms(f['p50_ms'])} | "
            f"×{f['p50_ms'] / g['p50_ms']:.2f} |"
        )
        lines.append(
            f"| {f['label']}: req/s | {_n(g['rps'])} | {_n(f['rps'])} | ×{f['rps'] / g['rps']:.2f} |"
        )
    for name, f in large["daily"].items():
        g = small["daily"].get(name)
        if g and g["seconds"]:
            lines.append(
                f"| {name} | {g['seconds']:.2f} s | {f['seconds']:.2f} s | "
                f"×{f['seconds'] / g['seconds']:.1f} |"
            )
    lines.append(
        f"| seed_scale on PostgreSQL | {small['seed']['seconds']:.1f} s | "
        f"{large['seed']['seconds']:.1f} s | ×{large['seed']['seconds'] / small['seed']['seconds']:.1f} |"
    )
    lines.append("")
    lines.append(
        f"The register grew ×{factor:.0f} between the two runs. Request costs that stay near ×1 "
        "are independent of the register's size (index lookups, pages bounded by one member's "
        f"data); jobs that grow near ×{factor:.0f} are linear in the number of members."
    )
    return lines


def render(results: dict) -> str:
    m = results["machine"]
    sizes = results["sizes"]
    largest = sizes[-1]
    out = [
        "# Benchmarks",
        "",
        "<!-- Generated by bench/report.py from bench/results/latest.json; do not edit by hand. "
        "Findings come from bench/findings.md. -->",
        "",
        "Every figure here is one that `make bench` printed in the run below. Speed and "
        "memory are measured only by the benchmark suite, never by timed tests; the query "
        "counts of the hot paths are also asserted in the ordinary test suite "
        "(tests/bench/), so a regression fails CI.",
        "",
        "## The machine and the run",
        "",
        f"- {m['cores']} cores ({m['cpu']}), {m['memory_gb']} GB memory, {m['os']}; "
        f"**a {m['cores']}-core machine**; load average when the run started "
        f"{', '.join(str(x) for x in m.get('load_at_start', []))} (1, 5, 15 minutes)",
        f"- {m.get('database', 'PostgreSQL')} on the same machine, over loopback; Python {m['python']}",
        f"- gunicorn with {results['gunicorn_workers']} sync workers (bench/gunicorn.conf.py), "
        "`DEBUG=false`, `CONN_MAX_AGE=60`, the site's full middleware; wrk from Debian with "
        "bench/lua/random_path.lua picking a random member per request",
        f"- {results['duration_per_endpoint_s']} s of load per endpoint after a 1 s warm-up; "
        "throughput endpoints with 16 connections, pages with one (their latency is what a "
        "person waits)",
        f"- `{results['command']}` started {results['started_at']}, took "
        f"{results['total_seconds']:.0f} s",
        "",
        "To reproduce: `make bench` (needs a PostgreSQL server; the database in "
        "`BENCH_DATABASE_URL`, default `postgres://postgres@127.0.0.1:5432/benchdata`, is "
        "dropped and recreated; wrk is installed from Debian).",
        "",
        f"## Results at {largest['members']:,} members",
        "",
        *endpoint_table(largest),
        "",
        "Worker peak RSS is the largest VmHWM of the gunicorn workers after each endpoint's "
        "run (it only grows). Queries per request are counted in-process through the same "
        "middleware, over 20 random requests (the largest shown).",
        "",
        *bulk_and_explain(largest),
        *pdf_table(largest),
        *webhooks_table(largest),
        "### Daily jobs",
        "",
        *daily_table(sizes),
        "",
        "### Seeding",
        "",
        "| database | members | rows | seconds | peak RSS |",
        "|---|---:|---:|---:|---:|",
    ]
    for size in sizes:
        out.append(
            f"| PostgreSQL | {size['members']:,} | {size['seed']['total_rows']:,} | "
            f"{size['seed']['seconds']:.1f} | {_n(size['seed'].get('peak_rss_mb'))} MB |"
        )
    if results.get("sqlite_seed"):
        s = results["sqlite_seed"]
        out.append(
            f"| SQLite | {s['members']:,} | {s['total_rows']:,} | {s['seconds']:.1f} | "
            f"{_n(s.get('peak_rss_mb'))} MB |"
        )
    out += [
        "",
        f"## How cost grows from {sizes[0]['members']:,} to {largest['members']:,} members",
        "",
        *growth(sizes),
        "",
    ]
    for size in sizes[:-1]:
        out += [f"## Results at {size['members']:,} members", "", *endpoint_table(size), ""]
    out += ["## Commands", "", *commands_table(largest), ""]
    findings = ROOT / "bench" / "findings.md"
    if findings.exists():
        out += [findings.read_text().strip(), ""]
    return "\n".join(out)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--results", type=Path, default=ROOT / "bench" / "results" / "latest.json")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "benchmarks.md")
    args = parser.parse_args()
    args.out.write_text(render(json.loads(args.results.read_text())))
    print(f"Wrote {args.out}")


if __name__ == "__main__":
    main()
