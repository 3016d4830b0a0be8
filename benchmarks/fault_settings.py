"""Settings of the processes benchmarks/faults.py starts (gunicorn, rqworker, db_worker).

DATABASE_URL: the PostgreSQL database; FAULT_BACKEND: ``rq`` (django-tasks-rq on
FAULT_REDIS_URL) or ``db`` (django-tasks-db).
"""

import os

import environ

env = environ.Env()
SECRET_KEY = "fault-run-only"
DEBUG = False
ALLOWED_HOSTS = ["*"]
USE_TZ = True
DATABASES = {"default": env.db_url("DATABASE_URL")}
INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django_tasks",
    "django_tasks_db",
    "django_rq",
    "django_tasks_rq",
    "django_polar",
    "benchmarks.faultapp",
]
MIDDLEWARE = ["django.middleware.common.CommonMiddleware"]
ROOT_URLCONF = "benchmarks.webhook_urls"
REDIS_URL = os.environ.get("FAULT_REDIS_URL", "redis://127.0.0.1:6379/1")
RQ_QUEUES = {"default": {"URL": REDIS_URL}}
if os.environ.get("FAULT_BACKEND", "rq") == "rq":
    TASKS = {"default": {"BACKEND": "django_tasks_rq.RQBackend", "QUEUES": ["default"]}}
else:
    TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}
POLAR = {
    "WEBHOOK_SECRET": "whsec_YmVuY2htYXJrLXdlYmhvb2stc2VjcmV0LTAxMjM0NTY3",
    "SERVER": "sandbox",
    "ACCESS_TOKEN": "polar_oat_fault_run_unused",
    "WEBHOOK_PROCESSING": "task",
}
SILENCED_SYSTEM_CHECKS = ["django_polar.E006"]  # the benchmark's own public secret
LOGGING = {"version": 1, "disable_existing_loggers": False}
