"""A subquery that returns its rows as one JSON array, so a list that belongs
to each row (a member's current certificates) comes back in the same query as
the rows themselves, on PostgreSQL and SQLite alike."""

from django.db.models import JSONField, Subquery


class JSONArraySubquery(Subquery):
    """Wrap ``queryset.values(item=JSONObject(...))``: the annotation is a list of
    those objects (empty when there are none), in the queryset's order. Dates
    come back as ISO strings and UUIDs as strings, as JSON has them."""

    output_field = JSONField()

    def as_sql(self, compiler, connection, template=None, **extra):
        # ``sql`` is Django's own compiled subquery; values stay in ``params``.
        sql, params = super().as_sql(compiler, connection, template=template, **extra)
        if connection.vendor == "postgresql":
            # jsonb, which Django's JSONField reads back on PostgreSQL.
            return (
                f"(SELECT COALESCE(jsonb_agg(_rows.item), '[]'::jsonb) FROM {sql} AS _rows(item))",  # noqa: S608
                params,
            )
        return f"(SELECT json_group_array(json(_rows.item)) FROM {sql} AS _rows)", params  # noqa: S608
