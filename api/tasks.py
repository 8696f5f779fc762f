"""Background work for employers: webhook fan-out and delivery, bulk CSV checks."""

from django.tasks import task


@task()
def webhook_fan_out(*, event_ids: list[int]) -> int:
    """Create the deliveries audit events call for and send each one."""
    from api.webhooks import _deliver_after_commit, webhook_deliveries_create

    delivery_ids = webhook_deliveries_create(event_ids=event_ids)
    _deliver_after_commit(delivery_ids)
    return len(delivery_ids)


@task()
def webhook_deliver(*, delivery_id: int) -> None:
    """One attempt at one delivery; a failure schedules the next attempt itself."""
    from api.webhooks import webhook_delivery_attempt

    webhook_delivery_attempt(delivery_id=delivery_id)


@task()
def bulk_verification_run(*, job_id: int) -> None:
    from api.bulk import bulk_verification_run as run

    run(job_id=job_id)
