"""Liveness and readiness endpoints for load balancers.

They answer plain text, set no cookies and need no login.
"""

import logging

from django.db import DatabaseError, connection
from django.http import HttpResponse
from django.tasks import DEFAULT_TASK_BACKEND_ALIAS, task_backends
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

logger = logging.getLogger(__name__)


@never_cache
@require_GET
def healthz(request):
    """The process is up and serving requests."""
    return HttpResponse("ok\n", content_type="text/plain")


def _check_database() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")


def _check_task_backend() -> None:
    """The queue the worker reads can be reached (the database backend's table)."""
    from django_tasks_db import DatabaseBackend

    if isinstance(task_backends[DEFAULT_TASK_BACKEND_ALIAS], DatabaseBackend):
        from django_tasks_db.models import DBTaskResult

        DBTaskResult.objects.order_by().values_list("pk", flat=True).first()


@never_cache
@require_GET
def readyz(request):
    """The process can do useful work: its database and task queue answer."""
    failures = []
    for name, check in (("database", _check_database), ("tasks", _check_task_backend)):
        try:
            check()
        except DatabaseError:
            logger.exception("Readiness check %s failed", name)
            failures.append(name)
    if failures:
        body = "".join(f"{name}: unavailable\n" for name in failures)
        return HttpResponse(body, status=503, content_type="text/plain")
    return HttpResponse("database: ok\ntasks: ok\n", content_type="text/plain")
