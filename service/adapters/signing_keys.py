"""Each school's Ed25519 signing keys, in owner-only files under the data directory.

A private key is never written to the event log. Its file (PKCS#8 PEM) is encrypted with the
store's cipher key when the store has one, so a copy of the data directory without that key
cannot sign; one file per key, named by the key's id, so a rotated-out key stays readable.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import (
    BestAvailableEncryption,
    Encoding,
    NoEncryption,
    PrivateFormat,
    load_pem_private_key,
)

from service.adapters.files import FILE_MODE, private_dir
from service.domain.evidence import key_id_of, raw_public_key

_SAFE = re.compile(r"^[A-Za-z0-9_-]+$")


class KeyFiles:
    """``<data dir>/evidence-keys/<school>/<key id>.pem``, owner-only."""

    def __init__(self, root: Path, passphrase: str | None = None) -> None:
        self.root = root
        self.passphrase = passphrase.encode() if passphrase else None

    def _path(self, school_id: str, key_id: str) -> Path:
        if not _SAFE.match(school_id) or not _SAFE.match(key_id):
            raise ValueError(f"not a school or key id: {school_id!r}, {key_id!r}")
        return self.root / school_id / f"{key_id}.pem"

    def create(self, school_id: str) -> tuple[str, bytes]:
        """A new key pair for the school: its key id and raw public key (the private key stays
        in its file)."""
        key = Ed25519PrivateKey.generate()
        public = raw_public_key(key.public_key())
        key_id = key_id_of(public)
        path = self._path(school_id, key_id)
        private_dir(path.parent)
        encryption = BestAvailableEncryption(self.passphrase) if self.passphrase else NoEncryption()
        pem = key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, encryption)
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, FILE_MODE)
        with os.fdopen(fd, "wb") as f:
            f.write(pem)
            f.flush()
            os.fsync(f.fileno())
        return key_id, public

    def load(self, school_id: str, key_id: str) -> Ed25519PrivateKey:
        key = load_pem_private_key(self._path(school_id, key_id).read_bytes(), self.passphrase)
        if not isinstance(key, Ed25519PrivateKey):
            raise TypeError(f"key {key_id} of school {school_id} is not an Ed25519 key")
        return key
