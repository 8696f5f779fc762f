from rest_framework.pagination import CursorPagination


class ApiCursorPagination(CursorPagination):
    """Lists come a page at a time with opaque ``next``/``previous`` links, which
    stay correct while rows are added (unlike page numbers)."""

    page_size = 25
    page_size_query_param = "page_size"
    max_page_size = 100
    ordering = "-id"
