"""Settings of the processes benchmarks/faults.py starts (gunicorn, rqworker, db_worker):
the webhook benchmark's, plus RQ and the app that logs every application.

DATABASE_URL: the PostgreSQL database; FAULT_BACKEND: ``rq`` (django-tasks-rq on
FAULT_REDIS_URL) or ``db`` (django-tasks-db).
"""

import os

from benchmarks.webhook_settings import *  # noqa: F403

INSTALLED_APPS = [*INSTALLED_APPS, "django_rq", "django_tasks_rq", "benchmarks.faultapp"]  # noqa: F405
RQ_QUEUES = {"default": {"URL": os.environ.get("FAULT_REDIS_URL", "redis://127.0.0.1:6379/1")}}
if os.environ.get("FAULT_BACKEND", "rq") == "rq":
    TASKS = {"default": {"BACKEND": "django_tasks_rq.RQBackend", "QUEUES": ["default"]}}
else:
    TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}
POLAR = {**POLAR, "WEBHOOK_PROCESSING": "task"}  # noqa: F405
