import tempfile

import pytest
from django.conf import settings
from django.core.cache import cache
from django.test import override_settings


def pytest_configure(config):
    # Tests run tasks inline, skip the slow password hasher, and serve static
    # files unhashed (the manifest storage breaks live_server). override_settings
    # sends setting_changed, so a task backend cached during start-up is reset.
    override_settings(
        TASKS={"default": {"BACKEND": "django.tasks.backends.immediate.ImmediateBackend"}},
        PASSWORD_HASHERS=["django.contrib.auth.hashers.MD5PasswordHasher"],
        STORAGES={
            **settings.STORAGES,
            "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
            "evidence": {
                "BACKEND": "django.core.files.storage.FileSystemStorage",
                "OPTIONS": {"location": tempfile.mkdtemp(prefix="evidence-"), "base_url": None},
            },
        },
    ).enable()


@pytest.fixture(autouse=True)
def _clear_cache():
    # Rate limits and used TOTP codes live in the cache; no test inherits another's.
    cache.clear()
    yield
    cache.clear()
