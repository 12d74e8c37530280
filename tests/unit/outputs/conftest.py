"""Helpers of the output tests: certificates for TLS peers started on 127.0.0.1."""

from __future__ import annotations

import datetime
import ipaddress
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


@pytest.fixture
def certificate() -> Callable[..., tuple[ec.EllipticCurvePrivateKey, x509.Certificate]]:
    """:func:`make_certificate`."""
    return make_certificate


def make_certificate(folder: Path, name: str, issuer: tuple[Any, x509.Certificate] | None
                     ) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    """A CA (``issuer`` None) or a certificate for 127.0.0.1 signed by ``issuer``, as ``name``.pem/.key."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.UTC)
    builder = (x509.CertificateBuilder().subject_name(subject_name)
               .issuer_name(issuer[1].subject if issuer else subject_name).public_key(key.public_key())
               .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(hours=1))
               .not_valid_after(now + datetime.timedelta(days=1)))
    if issuer is None:
        builder = builder.add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
    else:
        builder = builder.add_extension(x509.SubjectAlternativeName([x509.IPAddress(
            ipaddress.ip_address("127.0.0.1"))]), critical=False)
    cert = builder.sign(issuer[0] if issuer else key, hashes.SHA256())
    (folder / f"{name}.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (folder / f"{name}.key").write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                                           serialization.PrivateFormat.PKCS8,
                                                           serialization.NoEncryption()))
    return key, cert
