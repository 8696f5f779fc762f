import datetime as dt

from members.models import Member, Status, StatusEvent


def member_status_on(*, member: Member, on: dt.date) -> Status | None:
    """The member's status on a date, from the event history (None before joining).

    Events are ordered by effective date, then by when they were written, so a
    back-dated change recorded later still wins on its own date.
    """
    event = (
        StatusEvent.objects.filter(member=member, effective_date__lte=on)
        .order_by("-effective_date", "-id")
        .values_list("to_status", flat=True)
        .first()
    )
    return Status(event) if event else None
