"""Settings for every environment, read from the environment.

``DJANGO_ENV`` is ``development`` (the default: SQLite, console email, debug
on) or ``production`` (no defaults for secrets; refuses to start without
them). Every variable is listed in README.md.
"""

from decimal import Decimal
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured
from django.utils.csp import CSP

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
if (BASE_DIR / ".env").is_file():
    env.read_env(BASE_DIR / ".env")

DJANGO_ENV = env.str("DJANGO_ENV", default="development")
if DJANGO_ENV not in {"development", "production"}:
    raise ImproperlyConfigured(
        f"DJANGO_ENV must be 'development' or 'production', not {DJANGO_ENV!r}."
    )
PRODUCTION = DJANGO_ENV == "production"


def required(name: str, cast=str):
    """Read a setting production cannot run without, failing with a clear message."""
    value = env.get_value(name, cast=cast, default=None)
    if value in (None, "", []):
        raise ImproperlyConfigured(
            f"{name} must be set when DJANGO_ENV=production (see README.md, Configuration)."
        )
    return value


# --- Core -------------------------------------------------------------------

if PRODUCTION:
    SECRET_KEY = required("SECRET_KEY")
    ALLOWED_HOSTS = required("ALLOWED_HOSTS", cast=list)
    DEBUG = False
else:
    SECRET_KEY = env.str("SECRET_KEY", default="development-only-not-secret-" + "x" * 40)
    ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"])
    DEBUG = env.bool("DEBUG", default=True)

SITE_NAME = env.str("SITE_NAME", default="Institute of Health Service Managers")
SITE_URL = env.str("SITE_URL", default="http://localhost:8000").rstrip("/")
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    # Trigram search of the public register on PostgreSQL (lookups only; harmless elsewhere).
    "django.contrib.postgres",
    "django.forms",
    "allauth",
    "allauth.account",
    "allauth.mfa",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_tasks_db",
    "members",
    "cpd",
    "accreditation",
    "audit",
    "api",
    "bench",
]

MIDDLEWARE = [
    "audit.context.RequestIDMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "django.middleware.csp.ContentSecurityPolicyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "allauth.account.middleware.AccountMiddleware",
    "members.middleware.RequireMFAMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"
ASGI_APPLICATION = "config.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.csp",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "config.context_processors.site",
            ],
        },
    },
]

FORM_RENDERER = "config.forms.DesignSystemRenderer"

# --- Database and cache -----------------------------------------------------

DATABASES = {
    "default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}"),
}
DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=0)
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
    # Django turns psycopg's prepared statements off for transaction-mode
    # poolers. Only the API's hot queries (api.compiled) bind on the server and
    # so can be prepared, from their first run, when connections persist
    # (CONN_MAX_AGE); set DB_PREPARED_STATEMENTS=false behind a pooler that
    # cannot keep prepared statements.
    persistent = DATABASES["default"]["CONN_MAX_AGE"] != 0
    if persistent and env.bool("DB_PREPARED_STATEMENTS", default=True):
        DATABASES["default"].setdefault("OPTIONS", {})["prepare_threshold"] = 0
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

if PRODUCTION:
    CACHES = {"default": env.cache("CACHE_URL", default="dbcache://django_cache")}
    if "locmem" in CACHES["default"]["BACKEND"] or "dummy" in CACHES["default"]["BACKEND"]:
        # Rate limits and MFA code reuse checks must be shared by every process.
        raise ImproperlyConfigured("CACHE_URL must be a shared cache (redis:// or dbcache://).")
else:
    CACHES = {"default": env.cache("CACHE_URL", default="locmemcache://")}

# --- Authentication ---------------------------------------------------------

AUTH_USER_MODEL = "members.User"
AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "allauth.account.auth_backends.AuthenticationBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": 10},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "account_login"
LOGIN_REDIRECT_URL = "dashboard"

ACCOUNT_ADAPTER = "members.adapters.AccountAdapter"
ACCOUNT_FORMS = {
    "login": "members.forms.LoginForm",
    "signup": "members.forms.SignupForm",
    "add_email": "members.forms.AddEmailForm",
    "change_password": "members.forms.ChangePasswordForm",
    "set_password": "members.forms.SetPasswordForm",
    "reset_password": "members.forms.ResetPasswordForm",
    "reset_password_from_key": "members.forms.ResetPasswordKeyForm",
}
ACCOUNT_USER_MODEL_USERNAME_FIELD = None
ACCOUNT_LOGIN_METHODS = {"email"}
ACCOUNT_SIGNUP_FIELDS = ["email*", "password1*", "password2*"]
ACCOUNT_UNIQUE_EMAIL = True
ACCOUNT_EMAIL_VERIFICATION = "mandatory"
ACCOUNT_CONFIRM_EMAIL_ON_GET = False
ACCOUNT_LOGIN_ON_EMAIL_CONFIRMATION = False
ACCOUNT_CHANGE_EMAIL = True
ACCOUNT_PREVENT_ENUMERATION = True
# Tell people when their password, email or two-factor set-up changes.
ACCOUNT_EMAIL_NOTIFICATIONS = True
ACCOUNT_LOGOUT_ON_PASSWORD_CHANGE = False
ACCOUNT_EMAIL_SUBJECT_PREFIX = f"[{SITE_NAME}] "
ACCOUNT_DEFAULT_HTTP_PROTOCOL = "https" if PRODUCTION else "http"
ACCOUNT_SESSION_REMEMBER = None

MFA_SUPPORTED_TYPES = ["totp", "recovery_codes", "webauthn"]
MFA_TOTP_ISSUER = SITE_NAME
MFA_PASSKEY_LOGIN_ENABLED = False
# WebAuthn needs a secure context; http://localhost counts, so development works.
MFA_WEBAUTHN_ALLOW_INSECURE_ORIGIN = not PRODUCTION

# --- Membership -------------------------------------------------------------

MEMBERSHIP_GRACE_DAYS = env.int("MEMBERSHIP_GRACE_DAYS", default=30)
INVOICE_DUE_DAYS = env.int("INVOICE_DUE_DAYS", default=30)

# --- Stripe (card and Bacs Direct Debit) --------------------------------------
# Off unless both keys are set; without them members pay by invoice.

STRIPE_SECRET_KEY = env.str("STRIPE_SECRET_KEY", default="")
STRIPE_WEBHOOK_SECRET = env.str("STRIPE_WEBHOOK_SECRET", default="")
# Only for tests and local fakes: where the SDK sends API calls.
STRIPE_API_BASE = env.str("STRIPE_API_BASE", default="")

# --- CPD ----------------------------------------------------------------------

# The CPD year starts on the 1st of this month (4: April to March, the NHS year).
CPD_YEAR_START_MONTH = env.int("CPD_YEAR_START_MONTH", default=4)
# The annual return is due this many days after the CPD year ends.
CPD_RETURN_DUE_DAYS = env.int("CPD_RETURN_DUE_DAYS", default=30)
# The audit sample: this percentage of eligible members (at least one), who
# then have this many days to complete their record.
CPD_AUDIT_PERCENT = Decimal(env.str("CPD_AUDIT_PERCENT", default="2.5"))
CPD_AUDIT_WINDOW_DAYS = env.int("CPD_AUDIT_WINDOW_DAYS", default=91)

# --- Certificates and verifiable credentials ---------------------------------

# The Ed25519 key that signs credentials and status lists: PEM text, or a path to
# it. Never in the repository; `manage.py credentials_key` makes a development one.
CREDENTIALS_SIGNING_KEY = env.str("CREDENTIALS_SIGNING_KEY", default="")
CREDENTIALS_SIGNING_KEY_FILE = env.str(
    "CREDENTIALS_SIGNING_KEY_FILE",
    default="" if PRODUCTION else str(BASE_DIR / "var" / "keys" / "credentials-ed25519.pem"),
)
if PRODUCTION and not (CREDENTIALS_SIGNING_KEY or CREDENTIALS_SIGNING_KEY_FILE):
    raise ImproperlyConfigured(
        "CREDENTIALS_SIGNING_KEY or CREDENTIALS_SIGNING_KEY_FILE must be set when "
        "DJANGO_ENV=production (see README.md, Configuration)."
    )
# Retired public keys (a JWKS), kept so credentials they signed still verify.
CREDENTIALS_RETIRED_KEYS_FILE = env.str(
    "CREDENTIALS_RETIRED_KEYS_FILE",
    default="" if PRODUCTION else str(BASE_DIR / "var" / "keys" / "credentials-retired.json"),
)
# Requests per minute from one address to the public verification pages.
VERIFY_RATE_PER_MINUTE = env.int("VERIFY_RATE_PER_MINUTE", default=60)

# --- Background tasks -------------------------------------------------------

TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}

# --- Outgoing webhooks ------------------------------------------------------

# Seconds to wait for a receiver; a slower answer counts as a failed attempt.
WEBHOOK_TIMEOUT_SECONDS = env.int("WEBHOOK_TIMEOUT_SECONDS", default=15)
# A delivery is retried with exponential backoff for this many days; an
# endpoint whose every attempt has failed for as long is disabled.
WEBHOOK_RETRY_DAYS = env.int("WEBHOOK_RETRY_DAYS", default=3)
# Outside production, webhooks may go to http:// and to this machine or the
# local network (a receiver on localhost); production sends only to public
# https:// addresses, which keeps employers' URLs away from internal services.
WEBHOOK_ALLOW_PRIVATE_ADDRESSES = env.bool(
    "WEBHOOK_ALLOW_PRIVATE_ADDRESSES", default=not PRODUCTION
)

# --- Email ------------------------------------------------------------------

DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default=f"{SITE_NAME} <noreply@localhost>")
SERVER_EMAIL = env.str("SERVER_EMAIL", default=DEFAULT_FROM_EMAIL)
if PRODUCTION:
    DEFAULT_FROM_EMAIL = required("DEFAULT_FROM_EMAIL")
    MAILERS = {
        "default": {
            "BACKEND": "django.core.mail.backends.smtp.EmailBackend",
            "OPTIONS": {
                "host": required("EMAIL_HOST"),
                "port": env.int("EMAIL_PORT", default=587),
                "username": env.str("EMAIL_HOST_USER", default=""),
                "password": env.str("EMAIL_HOST_PASSWORD", default=""),
                "use_tls": env.bool("EMAIL_USE_TLS", default=True),
                "timeout": 10,
            },
        }
    }
else:
    MAILERS = {
        "default": {
            "BACKEND": env.str(
                "EMAIL_BACKEND", default="django.core.mail.backends.console.EmailBackend"
            )
        }
    }

# --- Internationalisation ---------------------------------------------------

LANGUAGE_CODE = "en-gb"
TIME_ZONE = "Europe/London"
USE_I18N = True
USE_TZ = True

# --- Static and media files -------------------------------------------------

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
MEDIA_URL = "media/"
MEDIA_ROOT = env.path("MEDIA_ROOT", default=BASE_DIR / "media")
# CPD evidence: private files, outside MEDIA_ROOT and never served directly;
# downloaded only through a view that checks who is asking.
EVIDENCE_ROOT = env.path("EVIDENCE_ROOT", default=BASE_DIR / "var" / "evidence")
EVIDENCE_MAX_BYTES = env.int("EVIDENCE_MAX_BYTES", default=10 * 1024 * 1024)
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "evidence": {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": str(EVIDENCE_ROOT), "base_url": None},
    },
    "staticfiles": {
        "BACKEND": (
            "whitenoise.storage.CompressedManifestStaticFilesStorage"
            if PRODUCTION
            else "django.contrib.staticfiles.storage.StaticFilesStorage"
        )
    },
}

# Outside production, serve static files straight from the finders (no collectstatic).
WHITENOISE_USE_FINDERS = WHITENOISE_AUTOREFRESH = not PRODUCTION

# --- Security ---------------------------------------------------------------

SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
SECURE_CSP = {
    "default-src": [CSP.SELF],
    "script-src": [CSP.SELF, CSP.NONCE],
    "style-src": [CSP.SELF],
    "img-src": [CSP.SELF, "data:"],
    "font-src": [CSP.SELF],
    "connect-src": [CSP.SELF],
    # Stripe's Checkout and customer portal are reached by redirects after our forms.
    "form-action": [CSP.SELF, "https://checkout.stripe.com", "https://billing.stripe.com"],
    "frame-ancestors": [CSP.NONE],
    "base-uri": [CSP.NONE],
    "object-src": [CSP.NONE],
}
if PRODUCTION:
    SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=60 * 60 * 24 * 365)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    # /healthz and /readyz answer load balancers over plain HTTP inside the network.
    SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$"]

# --- API --------------------------------------------------------------------

REST_FRAMEWORK = {
    # Deny by default: every call needs a key with the scope its view names;
    # public views (the register, the schema) open themselves explicitly.
    "DEFAULT_AUTHENTICATION_CLASSES": ["api.authentication.ApiKeyAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["api.permissions.HasKeyScope"],
    "DEFAULT_THROTTLE_CLASSES": [
        "api.throttles.KeyRateThrottle",
        "api.throttles.KeyScopeRateThrottle",
    ],
    "DEFAULT_THROTTLE_RATES": {
        "key": env.str("API_RATE_PER_KEY", default="1200/minute"),
        "verify": env.str("API_RATE_VERIFY", default="600/minute"),
        "verify_bulk": env.str("API_RATE_VERIFY_BULK", default="60/hour"),
        "certificates": env.str("API_RATE_CERTIFICATES", default="600/minute"),
        "watchlist": env.str("API_RATE_WATCHLIST", default="120/minute"),
        "webhooks": env.str("API_RATE_WEBHOOKS", default="60/minute"),
        "register": env.str("API_RATE_REGISTER", default="20/minute"),
        # The register's web pages (search and entries), per address.
        "register_pages": env.str("REGISTER_PAGE_RATE", default="60/minute"),
    },
    # Per-address limits read the client's address from X-Forwarded-For only
    # behind this many trusted proxies; 0 (the default) uses the connection's
    # address, so a client cannot dodge a limit by sending the header itself.
    "NUM_PROXIES": env.int("TRUSTED_PROXY_COUNT", default=0),
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "DEFAULT_PAGINATION_CLASS": "api.pagination.ApiCursorPagination",
    "EXCEPTION_HANDLER": "api.exceptions.api_exception_handler",
    "DEFAULT_SCHEMA_CLASS": "api.schema.ApiAutoSchema",
    # The version is in the URL (/api/v1/, mounted in config/urls.py), so plain
    # reverse() works everywhere; DRF's own versioning would add nothing.
    "DEFAULT_VERSIONING_CLASS": None,
    "UNAUTHENTICATED_USER": None,
}
SPECTACULAR_SETTINGS = {
    "TITLE": f"{SITE_NAME} API",
    "DESCRIPTION": "Check a health service manager's membership and accreditation. "
    "See docs/api.md for the integration guide.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    "SERVE_AUTHENTICATION": [],
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "ENUM_NAME_OVERRIDES": {},
}

# --- Benchmarks -------------------------------------------------------------

# Mounts the two floor endpoints bench/run.py compares against (bench/urls.py).
# Off unless asked for; the benchmark suite turns it on for its own server.
BENCH_ENDPOINTS = env.bool("BENCH_ENDPOINTS", default=False)

# --- Logging ----------------------------------------------------------------

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        "fontTools": {"level": "WARNING"},
        "weasyprint": {"level": "WARNING"},
    },
}
