"""Settings for the db_worker subprocess of tests/test_tasks_worker.py (DATABASE_URL names
the test database the test created)."""

from tests.settings import *  # noqa: F403

TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}
POLAR = {**POLAR, "WEBHOOK_PROCESSING": "task"}  # noqa: F405
SILENCED_SYSTEM_CHECKS = ["django_polar.E004"]  # the worker is a test process
