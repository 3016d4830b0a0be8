"""Counts every application of an event, as a project's receiver would see it: a row in
``fault_applied`` per ``webhook_event_processed`` signal (so "applied twice" is visible).

``FAULT_APPLY_DELAY`` seconds (default 0.02) are added inside each application's
transaction, as a slower database would: a worker then spends most of its time inside a
transaction, so the SIGKILL of the fault run lands mid-job, not between jobs.
"""

import os
import time

from django.apps import AppConfig
from django.db import connection

APPLIED_TABLE = "fault_applied"


def record(sender, event, **kwargs):
    with connection.cursor() as cursor:
        cursor.execute(f"INSERT INTO {APPLIED_TABLE} (webhook_id) VALUES (%s)", [event.webhook_id])


class FaultAppConfig(AppConfig):
    name = "benchmarks.faultapp"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from django_polar import signals
        from django_polar.webhooks import dispatch

        signals.webhook_event_processed.connect(record, dispatch_uid="fault-run-applied")
        delay = float(os.environ.get("FAULT_APPLY_DELAY", "0.02"))
        handler = dispatch.HANDLERS["subscription.created"]

        def slow_handler(data, **kwargs):
            time.sleep(delay)
            return handler(data, **kwargs)

        dispatch.HANDLERS["subscription.created"] = slow_handler
