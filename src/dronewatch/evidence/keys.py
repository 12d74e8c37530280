"""The site's Ed25519 signing key: made at first use, kept as a PEM file only its owner may read.

The public key is what a site hands to investigators, out of band, so that they can check that a
package came from this site (``dronewatch evidence public-key``).
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from dronewatch.errors import EvidenceError

KEY_FILE = "evidence-ed25519.pem"


def site_key(path: str | Path) -> Ed25519PrivateKey:
    """The private key in ``path``; a new one written there (mode 0600) when there is no file yet."""
    path = Path(path)
    if not path.exists():
        key = Ed25519PrivateKey.generate()
        path.parent.mkdir(parents=True, exist_ok=True)
        pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
        # O_EXCL: two processes starting together must not each write a key of their own
        try:
            descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            return site_key(path)
        with os.fdopen(descriptor, "wb") as file:
            file.write(pem)
        return key
    try:
        loaded = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm) as error:
        raise EvidenceError(f"{path}: not an unencrypted PEM private key ({error})") from None
    if not isinstance(loaded, Ed25519PrivateKey):
        raise EvidenceError(f"{path}: holds a {type(loaded).__name__}, not an Ed25519 private key")
    return loaded


def public_pem(key: Ed25519PrivateKey | Ed25519PublicKey) -> bytes:
    public = key.public_key() if isinstance(key, Ed25519PrivateKey) else key
    return public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def load_public_key(pem: bytes, where: str) -> Ed25519PublicKey:
    try:
        key = serialization.load_pem_public_key(pem)
    except (ValueError, UnsupportedAlgorithm) as error:
        raise EvidenceError(f"{where}: not a PEM public key ({error})") from None
    if not isinstance(key, Ed25519PublicKey):
        raise EvidenceError(f"{where}: holds a {type(key).__name__}, not an Ed25519 public key")
    return key


def fingerprint(key: Ed25519PrivateKey | Ed25519PublicKey) -> str:
    """SHA-256 of the raw public key, in hex: short enough to read out over the phone."""
    public = key.public_key() if isinstance(key, Ed25519PrivateKey) else key
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()
