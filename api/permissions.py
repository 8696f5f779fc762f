"""Deny by default: a call needs a key, and the key needs the scope the view names.

A view that names no ``required_scope`` is closed to every key; the few public
views (the register, the schema) say so explicitly with ``AllowAny``.
"""

from rest_framework.permissions import BasePermission

from api.models import ApiKey


class HasKeyScope(BasePermission):
    message = "This API key may not do this."
    code = "scope_missing"

    def has_permission(self, request, view) -> bool:
        key = request.auth
        if not isinstance(key, ApiKey):
            return False  # no key: DRF answers 401 with how to authenticate
        scope = getattr(view, "required_scope", None)
        if scope is None:
            return False
        if not key.has_scope(scope):
            self.message = f"This API key does not have the '{scope}' scope."
            return False
        return True
