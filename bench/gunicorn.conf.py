"""gunicorn for the benchmarks: the deployment's command (docs/deployment.md), on loopback.

Sync workers as deployed; BENCH_WORKERS of them (default: one per core plus one).
"""

import multiprocessing
import os

bind = f"127.0.0.1:{os.environ.get('BENCH_PORT', '8765')}"
workers = int(os.environ.get("BENCH_WORKERS", multiprocessing.cpu_count() + 1))
worker_class = "sync"
backlog = 2048
timeout = 60
accesslog = None
errorlog = "-"
loglevel = "warning"
proc_name = "register-bench"
