"""Background work for employers: webhook fan-out and delivery, bulk CSV checks."""

from django.tasks import task


@task()
def webhook_fan_out(*, event_ids: list[int]) -> int:
    """Create the deliveries audit events call for; they are sent in batches per endpoint."""
    from api.webhooks import webhook_deliveries_create

    return sum(webhook_deliveries_create(event_ids=event_ids).values())


@task()
def webhook_deliver(*, endpoint_id: int) -> int:
    """One batch of the endpoint's due deliveries; failures schedule their own retries."""
    from api.webhooks import webhook_deliveries_send

    return len(webhook_deliveries_send(endpoint_id=endpoint_id))


@task()
def bulk_verification_run(*, job_id: int) -> None:
    from api.bulk import bulk_verification_run as run

    run(job_id=job_id)
