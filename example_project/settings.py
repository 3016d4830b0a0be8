"""Settings of the demo SaaS, read from the environment (and ``.env``) with django-environ.

Runs on the Polar emulator by default. To use Polar's sandbox instead, set three variables:
POLAR_SERVER=sandbox, POLAR_ACCESS_TOKEN=polar_oat_..., POLAR_WEBHOOK_SECRET=whsec_...
The demo's own token and secret are public (they are in this file): they apply only on
the emulator, and starting on sandbox or production without real ones is an error.
"""

from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

from django_polar.conf import DEMO_ACCESS_TOKEN, DEMO_WEBHOOK_SECRET
from example_project.notes.catalog_seed import JOTTER_ORGANIZATION_ID

BASE_DIR = Path(__file__).resolve().parent
env = environ.Env()
environ.Env.read_env(BASE_DIR.parent / ".env")

DEBUG = env.bool("DEBUG", default=True)
SECRET_KEY = env("SECRET_KEY", default="demo-only-insecure-secret-key-change-me")
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost"])
DATABASES = {"default": env.db_url("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}")}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Polar's webhooks and the user's own actions write at the same time. IMMEDIATE takes
    # the write lock when a transaction begins, so a second writer waits (up to `timeout`
    # seconds) instead of failing at once with "database is locked"; WAL lets readers go on
    # while one writes. See docs/deployment.md ("SQLite").
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            "transaction_mode": "IMMEDIATE",
            "timeout": 20,
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        }
    )

try:  # Django < 6 uses the django-tasks backport
    import django_tasks  # noqa: F401

    TASKS_APPS, TASKS_PACKAGE = ["django_tasks"], "django_tasks"
except ImportError:
    TASKS_APPS, TASKS_PACKAGE = [], "django.tasks"

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",  # Swagger UI without a CDN
    *TASKS_APPS,
    "django_polar",
    "example_project.accounts",
    "example_project.notes",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "example_project.urls"
WSGI_APPLICATION = "example_project.wsgi.application"
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ]
        },
    }
]
USE_TZ = True
TIME_ZONE = "UTC"
STATIC_URL = "/static/"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
LOGIN_URL = "notes:login"
LOGIN_REDIRECT_URL = "notes:notes"
LOGOUT_REDIRECT_URL = "notes:home"
AUTH_USER_MODEL = "accounts.User"

#: Where this site is reachable; the embed script URL and the emulator's webhook target
#: are built from it. `manage.py demo` serves here.
SITE_URL = env("SITE_URL", default="http://127.0.0.1:8000").rstrip("/")

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["rest_framework.authentication.SessionAuthentication"],
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.PageNumberPagination",
    "PAGE_SIZE": 20,
}

#: The docs page (api/billing/docs/) loads its assets from this site.
SPECTACULAR_SETTINGS = {
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
}

TASKS = {"default": {"BACKEND": f"{TASKS_PACKAGE}.backends.immediate.ImmediateBackend"}}

POLAR_SERVER = env("POLAR_SERVER", default="emulator")


def polar_credential(name: str, demo: str) -> str:
    """The environment's value; the public demo one only on the emulator (which accepts
    any token and signs with the demo secret)."""
    if POLAR_SERVER == "emulator":
        return env(name, default=demo)
    value = env(name, default="")
    if not value:
        raise ImproperlyConfigured(
            f"{name} is not set, and POLAR_SERVER is not 'emulator': set it to the value from "
            "Polar's dashboard (the demo's own credentials work only on the emulator)."
        )
    return value


POLAR = {
    "SERVER": POLAR_SERVER,
    "ACCESS_TOKEN": polar_credential("POLAR_ACCESS_TOKEN", DEMO_ACCESS_TOKEN),
    "WEBHOOK_SECRET": polar_credential("POLAR_WEBHOOK_SECRET", DEMO_WEBHOOK_SECRET),
    "API_VERSION": env("POLAR_API_VERSION", default="2026-10"),
    "EMULATOR_URL": env("POLAR_EMULATOR_URL", default="http://127.0.0.1:8765"),
    # The vendored @polar-sh/checkout 0.4.1 (no CDN needed); see notes/embed.py.
    "EMBED_SCRIPT_URL": env("POLAR_EMBED_SCRIPT_URL", default=f"{SITE_URL}/polar-embed.js"),
    "SUBSCRIPTION_REQUIRED_URL": "notes:pricing",
    # A member who claims a seat invitation in the app lands on their teams.
    "SEAT_CLAIMED_URL": "notes:teams",
    # A visitor who bought before signing up creates the account here, then the purchase
    # is linked to it and they land on their account page (django_polar.claims).
    "GUEST_SIGNUP_URL": "notes:signup",
    "GUEST_CLAIMED_URL": "notes:account",
    # The demo runs tasks inline, so usage is flushed right after each commit (a real
    # deployment keeps the default "task" with a worker, or runs `polar_usage flush`).
    "USAGE_SENDING": "inline",
    # Likewise a user's changed email or name reaches Polar right after the commit.
    "CUSTOMER_SYNC": "inline",
    # License key calls (the API's license-keys/activate/) name the organization; on the
    # emulator it is the seeded Jotter's.
    "ORGANIZATION_ID": env(
        "POLAR_ORGANIZATION_ID",
        default=JOTTER_ORGANIZATION_ID if POLAR_SERVER == "emulator" else None,
    ),
}

#: The demo emulator keeps its state here between runs of `manage.py demo`.
POLAR_EMULATOR_STATE_FILE = env(
    "POLAR_EMULATOR_STATE_FILE", default=str(BASE_DIR / ".emulator-state.json")
)
