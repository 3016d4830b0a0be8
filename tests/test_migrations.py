"""Every model change ships with its migration (what the pre-commit hook checks too)."""

from io import StringIO

import pytest
from django.core.management import call_command


@pytest.mark.django_db
def test_no_model_change_is_missing_a_migration():
    out = StringIO()
    try:
        call_command("makemigrations", check=True, dry_run=True, stdout=out, stderr=out)
    except SystemExit:  # --check exits 1 when a migration would be written
        pytest.fail(f"makemigrations --check found missing migrations:\n{out.getvalue()}")


@pytest.mark.django_db(transaction=True)
def test_the_dunning_and_pause_migration_fills_existing_rows_from_their_json():
    """Rows mirrored before the columns existed answer at once (no webhook needed)."""
    from django.db import connection
    from django.db.migrations.executor import MigrationExecutor

    executor = MigrationExecutor(connection)
    target = next(
        key
        for key in executor.loader.disk_migrations
        if key[0] == "django_polar" and key[1].endswith("subscription_pause_dunning_cancellation")
    )
    before = executor.loader.graph.node_map[target].parents
    [previous] = [parent.key for parent in before if parent.key[0] == "django_polar"]
    executor.migrate([previous])
    apps = executor.loader.project_state([previous]).apps
    Customer = apps.get_model("django_polar", "Customer")
    Product = apps.get_model("django_polar", "Product")
    Subscription = apps.get_model("django_polar", "Subscription")
    Order = apps.get_model("django_polar", "Order")
    customer = Customer.objects.create(id="0b1f3c7e-1111-4a5b-9c0d-000000000001", email="a@b.c")
    product = Product.objects.create(id="0b1f3c7e-1111-4a5b-9c0d-000000000002", name="Pro")
    sub_id = "0b1f3c7e-1111-4a5b-9c0d-000000000003"
    Subscription.objects.create(
        id=sub_id,
        customer=customer,
        product=product,
        status="past_due",
        data={
            "past_due_at": "2026-11-02T10:00:00Z",
            "pause_at_period_end": False,
            "customer_cancellation_reason": "too_expensive",
            "customer_cancellation_comment": "Pricey.",
        },
    )
    Order.objects.create(
        id="0b1f3c7e-1111-4a5b-9c0d-000000000004",
        customer=customer,
        subscription_id=sub_id,
        status="pending",
        data={"next_payment_attempt_at": "2026-11-04T10:00:00Z"},
    )
    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes("django_polar"))

    from django_polar.models import Order as CurrentOrder
    from django_polar.models import Subscription as Current

    sub = Current.objects.get(pk=sub_id)
    assert sub.past_due_at.isoformat() == "2026-11-02T10:00:00+00:00"
    assert sub.get_customer_cancellation_reason_display() == "Too expensive"
    assert sub.customer_cancellation_comment == "Pricey."
    order = CurrentOrder.objects.get(subscription_id=sub_id)
    assert order.next_payment_attempt_at.isoformat() == "2026-11-04T10:00:00+00:00"
