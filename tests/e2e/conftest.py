"""Real-browser fixtures: Debian's Chromium driven by Playwright against live_server.

Every page a test opens is watched: a request to any host but the live server,
a console error (which is how Chromium reports CSP violations) or an uncaught
script error fails the test. ``axe`` runs axe-core on the current page.

The helpers at the end (signing in and out, finding the main content, URL
patterns for named routes) are shared by the browser tests, which import them
from here.
"""

import os
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from django.conf import settings
from django.urls import reverse

from tests.factories import TEST_PASSWORD
from tests.totp import current_code

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
AXE_SOURCE = Path(settings.BASE_DIR) / "node_modules" / "axe-core" / "axe.min.js"
# axe is served as if from the live server so the page's CSP (script-src 'self'
# plus a nonce) lets it run without weakening the policy under test.
AXE_PATH = "/__e2e__/axe.min.js"
AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]
EXPECT_TIMEOUT_MS = 10_000


def _unavailable(reason: str):
    if os.environ.get("REQUIRE_BROWSER") == "1":
        pytest.fail(f"{reason}; REQUIRE_BROWSER=1 makes this a failure.", pytrace=False)
    pytest.skip(f"{reason}; set REQUIRE_BROWSER=1 to fail instead of skipping.")


@pytest.fixture(scope="package")
def chromium():
    """One browser for the browser tests, closed when they are done."""
    executable = shutil.which("chromium")
    if executable is None:
        _unavailable(
            "browser tests need Chromium, and there is no 'chromium' on PATH "
            "(Debian: apt-get install chromium)"
        )
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=EXPECT_TIMEOUT_MS)
    # Sync Playwright runs an event loop in the main thread while the browser is
    # open, so Django would refuse every ORM call from the tests (and from the
    # database fixtures) without this. Package scope ends both the loop and this
    # exemption before the rest of the suite runs.
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
            yield browser
            browser.close()
    finally:
        if previous is None:
            del os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"]
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@dataclass
class PageWatch:
    """What a page did that a test should fail on, and which documents axe checked."""

    origin: str
    external_requests: list[str] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)
    navigations: list[str] = field(default_factory=list)
    checked: set[int] = field(default_factory=set)

    def problems(self) -> str:
        found = []
        if self.external_requests:
            found.append(
                "requests to hosts other than the live server:\n  "
                + "\n  ".join(self.external_requests)
            )
        if self.console_errors:
            found.append("console errors / CSP violations:\n  " + "\n  ".join(self.console_errors))
        return "\n".join(found)

    def on_request(self, request):
        url = request.url
        if urlsplit(url).scheme in {"data", "blob", "about"}:
            return
        if _origin(url) != self.origin:
            self.external_requests.append(f"{request.method} {url}")

    def on_console(self, message):
        if message.type == "error":
            location = message.location or {}
            where = location.get("url", "")
            self.console_errors.append(f"{message.text} (at {where or 'unknown'})")

    def on_page_error(self, error):
        self.console_errors.append(f"uncaught: {error}")

    def on_navigated(self, page, frame):
        if frame == page.main_frame:
            self.navigations.append(frame.url)


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


@pytest.fixture
def watch(live_server):
    return PageWatch(origin=_origin(live_server.url))


@pytest.fixture
def context(chromium, live_server, watch):
    context = chromium.new_context(base_url=live_server.url, locale="en-GB")
    context.set_default_timeout(EXPECT_TIMEOUT_MS)

    def route(route):
        url = route.request.url
        if _origin(url) != watch.origin:
            # Recorded by the request listener; never let it leave the machine.
            route.abort("blockedbyclient")
        elif urlsplit(url).path == AXE_PATH:
            route.fulfill(path=AXE_SOURCE, content_type="text/javascript")
        else:
            route.fallback()

    context.route("**/*", route)
    context.on("request", watch.on_request)
    # Chromium reports CSP violations on the console; this makes sure each one
    # is an error there even if a browser changes how it logs them.
    context.add_init_script(
        "document.addEventListener('securitypolicyviolation', e => console.error("
        "'CSP violation: ' + e.violatedDirective + ' blocked ' + e.blockedURI));"
    )
    yield context
    context.close()


@pytest.fixture
def page(context, watch):
    page = context.new_page()
    page.on("console", watch.on_console)
    page.on("pageerror", watch.on_page_error)
    page.on("framenavigated", lambda frame: watch.on_navigated(page, frame))
    return page


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item):
    # Checked here rather than in a fixture's teardown so that it fails the
    # test itself instead of erroring its teardown.
    watch = getattr(item, "funcargs", {}).get("watch")
    try:
        result = yield
    except BaseException as error:
        if watch is not None and watch.problems():
            error.add_note(watch.problems())
        raise
    if watch is not None and watch.problems():
        pytest.fail(watch.problems(), pytrace=False)
    return result


class Axe:
    def __init__(self, watch: PageWatch):
        self.watch = watch

    def __call__(self, page) -> None:
        """Assert axe-core finds no WCAG 2.2 A/AA violation on the current document."""
        page.wait_for_load_state("load")
        if not page.evaluate("() => typeof window.axe === 'object'"):
            page.add_script_tag(url=AXE_PATH)
        results = page.evaluate(
            "tags => axe.run(document, {runOnly: {type: 'tag', values: tags}})", AXE_TAGS
        )
        self.watch.checked.add(len(self.watch.navigations) - 1)
        violations = results["violations"]
        assert not violations, _describe(page.url, violations)

    def unchecked_pages(self) -> list[str]:
        """Documents the page navigated to that were never checked."""
        return [
            url
            for index, url in enumerate(self.watch.navigations)
            if index not in self.watch.checked
        ]


def _describe(url: str, violations: list[dict]) -> str:
    lines = [f"axe found {len(violations)} accessibility violation(s) on {url}:"]
    for violation in violations:
        lines.append(
            f"- {violation['id']} [{violation['impact']}]: {violation['help']} "
            f"({violation['helpUrl']})"
        )
        for node in violation["nodes"]:
            target = " ".join(
                " > ".join(part) if isinstance(part, list) else part for part in node["target"]
            )
            lines.append(f"    at {target}")
            summary = (node.get("failureSummary") or "").replace("\n", " ")
            if summary:
                lines.append(f"      {summary}")
    return "\n".join(lines)


@pytest.fixture
def axe(watch):
    return Axe(watch)


# --- Shared page helpers ----------------------------------------------------------


def field_label(words: str) -> re.Pattern:
    """A label pattern that ignores case and a trailing colon."""
    return re.compile(rf"^\s*(?:{words})\s*:?\s*$", re.IGNORECASE)


EMAIL = field_label(r"email( address)?")
PASSWORD = field_label("(create a )?password")
CODE = re.compile(r"\bcode\b", re.IGNORECASE)
SIGN_IN = re.compile(r"^(sign in|log in|continue)$", re.IGNORECASE)


def main(page):
    return page.get_by_role("main")


def heading(page):
    return page.get_by_role("heading", level=1)


def at(url_name, *, exact=True, **kwargs):
    """A URL pattern for a named route (query string allowed unless exact)."""
    path = reverse(url_name, kwargs=kwargs or None)
    return re.compile(re.escape(path) + ("$" if exact else r"(\?.*)?$"))


def link_to(page, url_name):
    """The link in the page body that goes to a named URL, whatever its words."""
    return main(page).locator(f"a[href='{reverse(url_name)}']").first


def sign_in(page, axe, email, password=TEST_PASSWORD):
    """Sign in through the login page (checking it with axe); a second factor may follow."""
    page.goto(reverse("account_login"))
    axe(page)
    main(page).get_by_label(EMAIL).fill(email)
    main(page).get_by_label(PASSWORD).fill(password)
    main(page).get_by_role("button", name=SIGN_IN).click()


def sign_in_with_code(page, axe, email, secret, password=TEST_PASSWORD):
    """Sign in, then give the authenticator app's current code; ends on the dashboard."""
    from playwright.sync_api import expect

    sign_in(page, axe, email, password)
    expect(page).to_have_url(at("mfa_authenticate", exact=False))
    axe(page)
    main(page).get_by_label(CODE).fill(current_code(secret))
    main(page).get_by_role(
        "button", name=re.compile(r"sign in|continue|confirm|verify", re.I)
    ).click()
    expect(page).to_have_url(at("dashboard"))


def sign_out(page):
    from playwright.sync_api import expect

    page.get_by_role("banner").get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("banner").get_by_role("link", name="Sign in")).to_be_visible()


@pytest.fixture
def totp_tolerance(settings):
    # A code computed in the last instant of a 30-second step may reach the
    # server in the next one; accept the neighbouring step so that never flakes.
    settings.MFA_TOTP_TOLERANCE = 1
