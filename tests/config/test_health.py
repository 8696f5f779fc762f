import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.django_db
def test_healthz_answers_without_touching_the_database(client, django_assert_num_queries):
    with django_assert_num_queries(0):
        response = client.get("/healthz")
    assert response.status_code == 200
    assert response.content == b"ok\n"
    assert "no-cache" in response["Cache-Control"]


@pytest.mark.django_db
def test_readyz_reports_database_and_tasks_ok(client):
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.content == b"database: ok\ntasks: ok\n"


@pytest.mark.django_db
def test_readyz_checks_the_database_task_queue(client, settings):
    settings.TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}
    response = client.get("/readyz")
    assert response.status_code == 200


def test_readyz_fails_when_the_database_is_unreachable():
    """A real process pointed at a port where no database listens answers 503."""
    script = (
        "import django; django.setup();"
        "from django.test import Client;"
        "r = Client(SERVER_NAME='localhost').get('/readyz');"
        "print(r.status_code); print(r.content.decode())"
    )
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DJANGO_ENV": "development",
        "DATABASE_URL": "postgres://postgres@127.0.0.1:9/unreachable?connect_timeout=2",
    }
    result = subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.stdout.splitlines()[:3] == [
        "503",
        "database: unavailable",
        "tasks: unavailable",
    ], result.stderr
