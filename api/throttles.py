"""Rate limits: one across everything a key does, one per key and scope, and a
strict one per address for the public register. Rates are in settings
(``REST_FRAMEWORK['DEFAULT_THROTTLE_RATES']``); a refusal is a 429 with
``Retry-After``."""

from rest_framework.throttling import ScopedRateThrottle, SimpleRateThrottle

from api.models import ApiKey


class KeyRateThrottle(SimpleRateThrottle):
    """Every call made with one key, whatever it asks."""

    scope = "key"

    def get_cache_key(self, request, view):
        if not isinstance(request.auth, ApiKey):
            return None
        return self.cache_format % {"scope": self.scope, "ident": request.auth.pk}


class KeyScopeRateThrottle(ScopedRateThrottle):
    """Per key for each kind of call (the view's ``throttle_scope``); per client
    address for calls without a key (the public register)."""

    def get_cache_key(self, request, view):
        if isinstance(request.auth, ApiKey):
            ident = f"key:{request.auth.pk}"
        else:
            ident = self.get_ident(request)
        return self.cache_format % {"scope": self.scope, "ident": ident}


class RegisterPageThrottle(SimpleRateThrottle):
    """The register's web pages, per client address: the same data as the API's
    register, so the same protection against copying it wholesale."""

    scope = "register_pages"

    def get_cache_key(self, request, view):
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}
