"""Create (or rotate) the Ed25519 key that signs credentials, at CREDENTIALS_SIGNING_KEY_FILE."""

import json
import os
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from joserfc.jwk import OKPKey

from accreditation import credentials


def _write_private(path: Path, pem: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(pem)


class Command(BaseCommand):
    help = (
        "Create the credential signing key file if it does not exist (for development), "
        "or with --rotate retire the current key to verification only and create a new one."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--rotate",
            action="store_true",
            help="Keep the current public key in CREDENTIALS_RETIRED_KEYS_FILE and sign with a new one.",
        )

    def handle(self, *args, rotate=False, **options):
        if settings.CREDENTIALS_SIGNING_KEY:
            raise CommandError(
                "CREDENTIALS_SIGNING_KEY is set in the environment: create or rotate the key "
                "where that secret is kept (see docs/certificates.md)."
            )
        if not settings.CREDENTIALS_SIGNING_KEY_FILE:
            raise CommandError("Set CREDENTIALS_SIGNING_KEY_FILE to where the key should live.")
        path = Path(settings.CREDENTIALS_SIGNING_KEY_FILE)
        if path.exists() and not rotate:
            key = OKPKey.import_key(path.read_bytes())
            self.stdout.write(f"Signing key already present: {path} (kid {key.thumbprint()})")
            return
        if rotate:
            if not path.exists():
                raise CommandError(f"There is no key at {path} to rotate.")
            if not settings.CREDENTIALS_RETIRED_KEYS_FILE:
                raise CommandError("Set CREDENTIALS_RETIRED_KEYS_FILE to keep the retired key.")
            old = OKPKey.import_key(path.read_bytes())
            retired_path = Path(settings.CREDENTIALS_RETIRED_KEYS_FILE)
            retired = (
                json.loads(retired_path.read_text()) if retired_path.exists() else {"keys": []}
            )
            public = {**old.as_dict(private=False), "kid": old.thumbprint()}
            if all(key.get("kid") != public["kid"] for key in retired["keys"]):
                retired["keys"].append(public)
            retired_path.parent.mkdir(parents=True, exist_ok=True)
            retired_path.write_text(json.dumps(retired, indent=2) + "\n")
            self.stdout.write(f"Retired key {public['kid']} (verification only): {retired_path}")
        key = OKPKey.generate_key("Ed25519", private=True)
        _write_private(path, key.as_pem(private=True))
        credentials.forget_keys()
        self.stdout.write(f"Created signing key {key.thumbprint()}: {path}")
