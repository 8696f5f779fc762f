import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

PRODUCTION_ENV = {
    "DJANGO_ENV": "production",
    "SECRET_KEY": "a-long-random-production-secret-key-for-tests-0123456789abcdefgh",
    "ALLOWED_HOSTS": "register.example.org",
    "EMAIL_HOST": "smtp.example.org",
    "DEFAULT_FROM_EMAIL": "Register <noreply@example.org>",
    "CREDENTIALS_SIGNING_KEY_FILE": "/run/secrets/credentials-ed25519.pem",
}


def manage(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if k not in PRODUCTION_ENV}
    clean.pop("DATABASE_URL", None)
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_production_without_secret_key_refuses_to_start():
    env = {k: v for k, v in PRODUCTION_ENV.items() if k != "SECRET_KEY"}
    result = manage("check", env=env)
    assert result.returncode != 0
    assert "SECRET_KEY must be set when DJANGO_ENV=production" in result.stderr


def test_production_without_allowed_hosts_or_email_refuses_to_start():
    for missing in ("ALLOWED_HOSTS", "EMAIL_HOST", "DEFAULT_FROM_EMAIL"):
        env = {k: v for k, v in PRODUCTION_ENV.items() if k != missing}
        result = manage("check", env=env)
        assert result.returncode != 0, missing
        assert f"{missing} must be set when DJANGO_ENV=production" in result.stderr


def test_production_without_a_credential_signing_key_refuses_to_start():
    env = {k: v for k, v in PRODUCTION_ENV.items() if k != "CREDENTIALS_SIGNING_KEY_FILE"}
    result = manage("check", env=env)
    assert result.returncode != 0
    assert "CREDENTIALS_SIGNING_KEY or CREDENTIALS_SIGNING_KEY_FILE must be set" in result.stderr


def test_production_refuses_a_per_process_cache():
    result = manage("check", env={**PRODUCTION_ENV, "CACHE_URL": "locmemcache://"})
    assert result.returncode != 0
    assert "CACHE_URL must be a shared cache" in result.stderr


def test_production_settings_pass_check_deploy():
    result = manage("check", "--deploy", "--fail-level", "WARNING", env=PRODUCTION_ENV)
    assert result.returncode == 0, result.stderr
    assert "System check identified no issues (0 silenced)." in result.stdout


def test_unknown_environment_name_is_refused():
    result = manage("check", env={"DJANGO_ENV": "prod"})
    assert result.returncode != 0
    assert "DJANGO_ENV must be 'development' or 'production'" in result.stderr


def test_pages_carry_security_headers(client, db):
    response = client.get("/")
    csp = response["Content-Security-Policy"]
    assert "default-src 'self'" in csp
    assert "script-src 'self' 'nonce-" in csp
    assert "frame-ancestors 'none'" in csp
    assert response["X-Frame-Options"] == "DENY"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "same-origin"
    # The page's inline scripts carry the nonce the header allows.
    nonce = csp.split("'nonce-")[1].split("'")[0]
    assert f'nonce="{nonce}"' in response.text
