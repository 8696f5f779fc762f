"""The Standard Webhooks signature, checked the way a receiver would."""

import base64
import hashlib
import hmac
import time

import pytest

from api.webhooks import (
    SignatureError,
    secret_generate,
    signature_verify,
    signed_headers,
)


def test_a_secret_is_whsec_and_base64_of_32_random_bytes():
    secret = secret_generate()
    assert secret.startswith("whsec_")
    assert len(base64.b64decode(secret.removeprefix("whsec_"), validate=True)) == 32
    assert secret != secret_generate()


def test_the_signature_is_the_documented_hmac_of_id_timestamp_and_body():
    """Recomputed here from the spec alone, without the module's own helpers."""
    secret = "whsec_" + base64.b64encode(b"k" * 32).decode()
    body = b'{"type":"member.status_changed","data":{}}'
    headers = signed_headers(secret=secret, msg_id="msg_1", body=body, timestamp=1674087231)
    expected = base64.b64encode(
        hmac.new(b"k" * 32, b"msg_1.1674087231." + body, hashlib.sha256).digest()
    ).decode()
    assert headers == {
        "webhook-id": "msg_1",
        "webhook-timestamp": "1674087231",
        "webhook-signature": f"v1,{expected}",
    }


def test_the_published_standard_webhooks_example_verifies():
    """Test vector from the Standard Webhooks reference libraries."""
    secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    body = b'{"test": 2432232314}'
    headers = {
        "webhook-id": "msg_p5jXN8AQM9LWM0D4loKWxJek",
        "webhook-timestamp": "1614265330",
        "webhook-signature": "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
    }
    signature_verify(secret=secret, headers=headers, body=body, now=1614265330)


def _signed(secret, body=b"{}", **kwargs):
    return signed_headers(secret=secret, msg_id="msg_x", body=body, **kwargs)


@pytest.mark.parametrize(
    "tamper",
    [
        lambda h, b: (h, b + b" "),  # the body changed
        lambda h, b: ({**h, "webhook-id": "msg_y"}, b),  # another message's id
        lambda h, b: ({**h, "webhook-timestamp": str(int(h["webhook-timestamp"]) + 1)}, b),
        lambda h, b: ({**h, "webhook-signature": "v1,AAAA"}, b),
        lambda h, b: ({k: v for k, v in h.items() if k != "webhook-signature"}, b),
    ],
)
def test_any_change_to_the_message_fails_verification(tamper):
    secret = secret_generate()
    headers, body = tamper(_signed(secret, b'{"a":1}'), b'{"a":1}')
    with pytest.raises(SignatureError):
        signature_verify(secret=secret, headers=headers, body=body)


def test_another_secret_fails_and_an_old_timestamp_is_a_replay():
    secret = secret_generate()
    with pytest.raises(SignatureError):
        signature_verify(secret=secret_generate(), headers=_signed(secret), body=b"{}")
    stale = _signed(secret, timestamp=int(time.time()) - 600)
    with pytest.raises(SignatureError, match="too far"):
        signature_verify(secret=secret, headers=stale, body=b"{}")


def test_any_of_several_signatures_may_match_for_secret_rotation():
    old, new = secret_generate(), secret_generate()
    headers = _signed(new)
    rotated = _signed(old, timestamp=int(headers["webhook-timestamp"]))
    headers["webhook-signature"] = f"{rotated['webhook-signature']} {headers['webhook-signature']}"
    signature_verify(secret=new, headers=headers, body=b"{}")
    signature_verify(secret=old, headers={k.upper(): v for k, v in headers.items()}, body=b"{}")


def test_the_local_listener_checks_signatures_of_what_it_receives():
    import threading
    import urllib.request

    from api.management.commands.webhooks_listen import receiver_server

    secret, lines = secret_generate(), []
    server = receiver_server(port=0, secret=secret, write=lines.append)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/"
        for body in (b'{"type":"webhook.ping"}', b"tampered"):
            headers = _signed(secret, b'{"type":"webhook.ping"}')
            request = urllib.request.Request(url, data=body, headers=headers, method="POST")
            with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310
                assert response.status == 200
    finally:
        server.shutdown()
        server.server_close()
    assert lines[0] == "msg_x signature OK"
    assert lines[2].startswith("msg_x signature REFUSED")
