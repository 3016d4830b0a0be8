"""Settings for the django-polar test suite.

DATABASE_URL picks the database (SQLite in memory by default; CI also runs
postgres://postgres@127.0.0.1:5432/test).
"""

import environ

env = environ.Env()

SECRET_KEY = "tests-only-not-secret"
DEBUG = False
USE_TZ = True
TIME_ZONE = "UTC"
ALLOWED_HOSTS = ["*"]

# On SQLite Django's test database is already a shared-cache in-memory database, so
# threads (live server, workers) see the same data, and pytest-xdist workers each get
# their own.
DATABASES = {"default": env.db_url("DATABASE_URL", default="sqlite://:memory:")}

try:  # Django < 6: the django-tasks backport; Django 6 has django.tasks built in.
    import django_tasks  # noqa: F401

    TASKS_APPS = ["django_tasks"]
    TASKS_PACKAGE = "django_tasks"
except ImportError:
    TASKS_APPS = []
    TASKS_PACKAGE = "django.tasks"

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",  # the demo's API docs page (tests/e2e/test_api_docs.py)
    "drf_spectacular_sidecar",
    *TASKS_APPS,
    "django_polar",
    "tests.testapp",
    "example_project.notes",  # the demo's app, for tests/test_example*.py and tests/e2e
]

try:  # the database task backend, for the real worker test (tests/test_tasks_worker.py)
    import django_tasks_db  # noqa: F401

    INSTALLED_APPS.append("django_tasks_db")
except ImportError:
    pass

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
]

ROOT_URLCONF = "tests.testapp.urls"
AUTH_USER_MODEL = "testapp.User"
LOGIN_URL = "/login/"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
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

STATIC_URL = "/static/"
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

TASKS = {"default": {"BACKEND": f"{TASKS_PACKAGE}.backends.immediate.ImmediateBackend"}}

POLAR = {
    "ACCESS_TOKEN": "polar_oat_test_token_0123456789",
    "WEBHOOK_SECRET": "whsec_dGVzdC13ZWJob29rLXNlY3JldC0wMTIzNDU2Nzg5",
    "SERVER": "emulator",
    "MAX_RETRIES": 3,
    # Usage is flushed right after each commit, so a test sees it in Polar at once.
    "USAGE_SENDING": "inline",
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"null": {"class": "logging.NullHandler"}},
    "loggers": {"django_polar": {"handlers": ["null"], "level": "DEBUG"}},
}

SPECTACULAR_SETTINGS = {"SWAGGER_UI_DIST": "SIDECAR", "SWAGGER_UI_FAVICON_HREF": "SIDECAR"}
