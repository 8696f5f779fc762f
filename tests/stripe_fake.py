"""A fake of the Stripe API calls we make, served over real HTTP on localhost.

The real ``stripe`` SDK talks to it (``STRIPE_API_BASE``), so requests are
encoded, retried and parsed exactly as in production. Tests change Stripe's
side of the world with the methods below (a checkout completes, a renewal is
paid, a payment fails) and build signed webhook events the way Stripe does.
"""

import itertools
import json
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlparse

import stripe

YEAR = 365 * 24 * 3600


def _parse_form(pairs: list[tuple[str, str]]) -> dict:
    """Stripe's form encoding (a[b][0][c]=v) back into nested dicts and lists."""
    root: dict = {}
    for key, value in pairs:
        parts = re.findall(r"[^\[\]]+", key)
        node = root
        for i, part in enumerate(parts):
            last = i == len(parts) - 1
            if last:
                node[part] = value
            else:
                node = node.setdefault(part, {})
    return _lists(root)


def _lists(node):
    if isinstance(node, dict):
        if node and all(k.isdigit() for k in node):
            return [_lists(node[k]) for k in sorted(node, key=int)]
        return {k: _lists(v) for k, v in node.items()}
    return node


class FakeStripe:
    def __init__(self) -> None:
        self.objects: dict[str, dict] = {}
        self.requests: list[dict] = []
        self.idempotent: dict[str, tuple[int, bytes]] = {}
        self.drop_responses: dict[str, int] = {}  # path -> responses to lose
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self.now = int(time.time())

    # --- server --------------------------------------------------------------------

    def start(self) -> str:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                fake._handle(self, "GET")

            def do_POST(self):
                fake._handle(self, "POST")

            def do_DELETE(self):
                fake._handle(self, "DELETE")

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return f"http://127.0.0.1:{self.server.server_port}"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def _handle(self, request, method: str) -> None:
        url = urlparse(request.path)
        if method == "POST":
            length = int(request.headers.get("Content-Length") or 0)
            params = _parse_form(
                parse_qsl(request.rfile.read(length).decode(), keep_blank_values=True)
            )
        else:
            params = _parse_form(parse_qsl(url.query, keep_blank_values=True))
        key = request.headers.get("Idempotency-Key")
        with self._lock:
            self.requests.append(
                {"method": method, "path": url.path, "params": params, "idempotency_key": key}
            )
            if method == "POST" and key and key in self.idempotent:
                status, body = self.idempotent[key]
            else:
                status, payload = self._route(method, url.path, params)
                body = json.dumps(payload).encode()
                if method == "POST" and key:
                    self.idempotent[key] = (status, body)
            if self.drop_responses.get(url.path):
                # The work is done but the answer is lost: the client sees a
                # broken connection and retries.
                self.drop_responses[url.path] -= 1
                request.close_connection = True
                request.wfile.flush()
                request.connection.shutdown(2)
                return
        request.send_response(status)
        request.send_header("Content-Type", "application/json")
        request.send_header("Content-Length", str(len(body)))
        request.end_headers()
        request.wfile.write(body)

    def _route(self, method: str, path: str, params: dict) -> tuple[int, dict]:
        parts = path.strip("/").split("/")[1:]  # drop "v1"
        resource = "/".join(
            p for p in parts if not p.startswith(("cus_", "cs_", "sub_", "in_", "pm_", "ch_"))
        )
        object_id = next(
            (
                p
                for p in parts
                if "_" in p and p.split("_")[0] in ("cus", "cs", "sub", "in", "pm", "ch")
            ),
            None,
        )
        if object_id:
            if object_id not in self.objects:
                return 404, {
                    "error": {
                        "type": "invalid_request_error",
                        "message": f"No such object: {object_id}",
                    }
                }
            if method == "POST" and resource == "subscriptions":
                self._update_subscription(object_id, params)
            return 200, self.objects[object_id]
        if method == "POST":
            creator = {
                "customers": self._create_customer,
                "checkout/sessions": self._create_session,
                "billing_portal/sessions": lambda p: {
                    "object": "billing_portal.session",
                    "url": "https://billing.stripe.com/p/session/test",
                },
            }.get(resource)
            if creator is None:
                return 404, {"error": {"message": f"Unknown endpoint {path}"}}
            return 200, creator(params)
        return 200, self._list(resource, params)

    def _list(self, resource: str, params: dict) -> dict:
        kind = {
            "subscriptions": "subscription",
            "invoices": "invoice",
            "refunds": "refund",
            "invoice_payments": "invoice_payment",
        }[resource]
        rows = [o for o in self.objects.values() if o["object"] == kind]
        if kind == "invoice":
            if "subscription" in params:
                rows = [
                    r
                    for r in rows
                    if r["parent"]["subscription_details"]["subscription"] == params["subscription"]
                ]
            if "status" in params:
                rows = [r for r in rows if r["status"] == params["status"]]
        if kind == "refund" and "charge" in params:
            rows = [r for r in rows if r["charge"] == params["charge"]]
        if kind == "invoice_payment":
            intent = params.get("payment", {}).get("payment_intent")
            rows = [r for r in rows if r["payment"]["payment_intent"] == intent]
        return {"object": "list", "data": rows, "has_more": False, "url": f"/v1/{resource}"}

    # --- objects ---------------------------------------------------------------------

    def _new_id(self, prefix: str) -> str:
        return f"{prefix}_test{next(self._ids):05d}"

    def _create_customer(self, params: dict) -> dict:
        customer = {"id": self._new_id("cus"), "object": "customer", **params}
        self.objects[customer["id"]] = customer
        return customer

    def _create_session(self, params: dict) -> dict:
        session_id = self._new_id("cs")
        session = {
            "id": session_id,
            "object": "checkout.session",
            "mode": params["mode"],
            "customer": params["customer"],
            "client_reference_id": params.get("client_reference_id"),
            "metadata": params.get("metadata", {}),
            "line_items_requested": params["line_items"],
            "subscription_data": params.get("subscription_data", {}),
            "status": "open",
            "payment_status": "unpaid",
            "subscription": None,
            "invoice": None,
            "url": f"https://checkout.stripe.com/c/pay/{session_id}",
        }
        self.objects[session_id] = session
        return session

    def _update_subscription(self, subscription_id: str, params: dict) -> None:
        subscription = self.objects[subscription_id]
        for change in params.get("items", []):
            for item in subscription["items"]["data"]:
                if item["id"] == change["id"]:
                    item["price"] = {"id": change["price"], "object": "price"}
        subscription["last_proration_behavior"] = params.get("proration_behavior")

    def _invoice(self, subscription: dict, *, amount: int, paid: bool, reason: str) -> dict:
        invoice_id = self._new_id("in")
        self.now += 1
        invoice = {
            "id": invoice_id,
            "object": "invoice",
            "number": f"FAKE-{invoice_id[-5:]}",
            "customer": subscription["customer"],
            "billing_reason": reason,
            "amount_due": amount,
            "amount_paid": amount if paid else 0,
            "status": "paid" if paid else "open",
            "created": self.now,
            "status_transitions": {"paid_at": self.now if paid else None},
            "parent": {
                "type": "subscription_details",
                "subscription_details": {"subscription": subscription["id"]},
            },
        }
        self.objects[invoice_id] = invoice
        subscription["latest_invoice"] = invoice_id
        return invoice

    # --- what happens on Stripe's side -------------------------------------------------

    def complete_checkout(
        self, session_id: str, *, method: str = "card", amount: int = 14500
    ) -> dict:
        """The member finishes Checkout. A card pays at once; Bacs leaves it unpaid."""
        session = self.objects[session_id]
        method_id = self._new_id("pm")
        self.objects[method_id] = {"id": method_id, "object": "payment_method", "type": method}
        subscription_id = self._new_id("sub")
        price = session["line_items_requested"][0]["price"]
        trial_end = session["subscription_data"].get("trial_end")
        subscription = {
            "id": subscription_id,
            "object": "subscription",
            "customer": session["customer"],
            "status": "trialing" if trial_end else "active",
            "cancel_at_period_end": False,
            "default_payment_method": method_id,
            "latest_invoice": None,
            "items": {
                "object": "list",
                "data": [
                    {
                        "id": self._new_id("si"),
                        "price": {"id": price, "object": "price"},
                        "current_period_end": int(trial_end) if trial_end else self.now + YEAR,
                    }
                ],
            },
        }
        self.objects[subscription_id] = subscription
        paid = method == "card"
        invoice = self._invoice(
            subscription,
            amount=0 if trial_end else amount,
            paid=paid or bool(trial_end),
            reason="subscription_create",
        )
        session.update(
            status="complete",
            payment_status="no_payment_required" if trial_end else ("paid" if paid else "unpaid"),
            subscription=subscription_id,
            invoice=invoice["id"],
        )
        return session

    def complete_payment(self, session_id: str, *, method: str = "card") -> dict:
        """The member finishes a one-off (mode "payment") Checkout. A card pays at
        once; Bacs completes the session unpaid until the money clears."""
        session = self.objects[session_id]
        assert session["mode"] == "payment"
        session.update(
            status="complete",
            payment_status="paid" if method == "card" else "unpaid",
            payment_intent=self._new_id("pi"),
        )
        return session

    def payment_clears(self, session_id: str) -> None:
        self.objects[session_id]["payment_status"] = "paid"

    def bacs_clears(self, session_id: str) -> None:
        session = self.objects[session_id]
        invoice = self.objects[session["invoice"]]
        self.now += 1
        invoice.update(
            status="paid",
            amount_paid=invoice["amount_due"],
            status_transitions={"paid_at": self.now},
        )
        session["payment_status"] = "paid"

    def bacs_fails(self, session_id: str) -> None:
        session = self.objects[session_id]
        self.objects[session["invoice"]]["status"] = "uncollectible"
        self.objects[session["subscription"]]["status"] = "incomplete_expired"

    def renew(self, subscription_id: str, *, paid: bool = True, amount: int = 14500) -> dict:
        subscription = self.objects[subscription_id]
        item = subscription["items"]["data"][0]
        item["current_period_end"] += YEAR
        subscription["status"] = "active" if paid else "past_due"
        return self._invoice(subscription, amount=amount, paid=paid, reason="subscription_cycle")

    def pay(self, invoice_id: str) -> None:
        invoice = self.objects[invoice_id]
        self.now += 1
        invoice.update(
            status="paid",
            amount_paid=invoice["amount_due"],
            status_transitions={"paid_at": self.now},
        )
        subscription_id = invoice["parent"]["subscription_details"]["subscription"]
        self.objects[subscription_id]["status"] = "active"

    def cancel(self, subscription_id: str) -> None:
        self.objects[subscription_id]["status"] = "canceled"

    def refund(self, invoice_id: str, amount: int) -> str:
        """Refund part of a paid invoice; returns the charge id."""
        charge_id, intent_id = self._new_id("ch"), self._new_id("pi")
        self.objects[charge_id] = {
            "id": charge_id,
            "object": "charge",
            "payment_intent": intent_id,
            "amount_refunded": amount,
        }
        refund_id = self._new_id("re")
        self.objects[refund_id] = {
            "id": refund_id,
            "object": "refund",
            "charge": charge_id,
            "amount": amount,
            "status": "succeeded",
            "created": self.now,
            "reason": "requested_by_customer",
        }
        payment_id = self._new_id("inpay")
        self.objects[payment_id] = {
            "id": payment_id,
            "object": "invoice_payment",
            "invoice": invoice_id,
            "payment": {"type": "payment_intent", "payment_intent": intent_id},
        }
        return charge_id

    # --- webhooks ------------------------------------------------------------------------

    def event(self, event_type: str, object_id: str) -> dict:
        """An event as Stripe sends it: a snapshot of the object at this moment."""
        return {
            "id": self._new_id("evt"),
            "object": "event",
            "type": event_type,
            "api_version": "2026-10-28.endive",
            "created": self.now,
            "livemode": False,
            "data": {"object": json.loads(json.dumps(self.objects[object_id]))},
        }

    @staticmethod
    def sign(event: dict, secret: str, *, timestamp: int | None = None) -> tuple[bytes, str]:
        payload = json.dumps(event)
        header = stripe.WebhookSignature.generate_signature_header(
            payload, secret, timestamp=timestamp
        )
        return payload.encode(), header
