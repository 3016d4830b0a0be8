"""Settings for benchmarks/webhooks.py: PostgreSQL, the inbox, a database task queue."""

import os

import environ

env = environ.Env()
SECRET_KEY = "benchmark-only"
DEBUG = False
ALLOWED_HOSTS = ["*"]
USE_TZ = True
DATABASES = {"default": env.db_url("DATABASE_URL")}
INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django_tasks",
    "django_tasks_db",
    "django_polar",
]
MIDDLEWARE = ["django.middleware.common.CommonMiddleware"]
ROOT_URLCONF = "benchmarks.webhook_urls"
TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}
POLAR = {
    "WEBHOOK_SECRET": "whsec_YmVuY2htYXJrLXdlYmhvb2stc2VjcmV0LTAxMjM0NTY3",
    "SERVER": "sandbox",
    "ACCESS_TOKEN": "polar_oat_benchmark_unused",
    "WEBHOOK_PROCESSING": os.environ.get("BENCH_PROCESSING", "task"),
}
LOGGING = {"version": 1, "disable_existing_loggers": False}
SILENCED_SYSTEM_CHECKS = ["django_polar.E006"]  # the benchmark's secret is public on purpose
