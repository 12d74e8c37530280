"""Checking a package: the signature of its manifest, then every file against the manifest's SHA-256.

Needs nothing from the site but its public key; without one, the key inside the package is used,
which proves the package was not changed since signing but not who signed it (the verdict says so).
"""

from __future__ import annotations

import hashlib
import json
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from dronewatch.evidence.incident import FORMAT, MANIFEST, PUBLIC_KEY, SIGNATURE
from dronewatch.evidence.keys import fingerprint, load_public_key
from dronewatch.storage.repository import audit_hash


@dataclass(frozen=True, slots=True)
class Verdict:
    ok: bool
    message: str
    """What was checked, or the first thing that does not match (naming the file)."""
    file: str | None = None
    """The file at fault, when one is."""


def verify_package(path: str | Path, public_key: Ed25519PublicKey | None = None) -> Verdict:
    try:
        archive = zipfile.ZipFile(path)
    except (OSError, zipfile.BadZipFile) as error:
        return Verdict(False, f"{path}: not a readable zip file ({error})", str(path))
    with archive:
        names = set(archive.namelist())
        for needed in (MANIFEST, SIGNATURE):
            if needed not in names:
                return Verdict(False, f"{needed}: missing from the package", needed)
        body, signature = _read(archive, MANIFEST), _read(archive, SIGNATURE)
        if isinstance(body, Verdict):
            return body
        if isinstance(signature, Verdict):
            return signature
        own_key = public_key is None
        if public_key is None:
            if PUBLIC_KEY not in names:
                return Verdict(False, f"{PUBLIC_KEY}: missing, and no --public-key given", PUBLIC_KEY)
            pem = _read(archive, PUBLIC_KEY)
            if isinstance(pem, Verdict):
                return pem
            public_key = load_public_key(pem, PUBLIC_KEY)
        try:
            public_key.verify(signature, body)
        except InvalidSignature:
            return Verdict(False, f"{SIGNATURE}: the signature does not match {MANIFEST} under the key with "
                           f"SHA-256 {fingerprint(public_key)} (another key signed it, or either file was changed)",
                           SIGNATURE)
        try:
            manifest = json.loads(body)
            files = {entry["name"]: entry["sha256"] for entry in manifest["files"]}
        except (ValueError, KeyError, TypeError) as error:
            return Verdict(False, f"{MANIFEST}: signed but not a dronewatch manifest ({error})", MANIFEST)
        if manifest.get("format") != FORMAT:
            return Verdict(False, f"{MANIFEST}: format {manifest.get('format')!r}, this dronewatch reads {FORMAT}",
                           MANIFEST)
        for name, expected in files.items():
            if name not in names:
                return Verdict(False, f"{name}: listed in {MANIFEST} but missing from the package", name)
            data = _read(archive, name)
            if isinstance(data, Verdict):
                return data
            digest = hashlib.sha256(data).hexdigest()
            if digest != expected:
                return Verdict(False, f"{name}: SHA-256 {digest} does not match {expected} in {MANIFEST}: the file "
                               "was changed after export", name)
        for name in sorted(names - set(files) - {MANIFEST, SIGNATURE, PUBLIC_KEY}):
            return Verdict(False, f"{name}: in the package but not in {MANIFEST}: added after export", name)
        problem = _audit_problem(manifest, files)
        if problem:
            return Verdict(False, f"{MANIFEST}: {problem}", MANIFEST)
    whose = ("the key inside the package: this shows the package is unchanged since it was signed, not who "
             "signed it; give --public-key with the site's key for that" if own_key
             else f"the given key (SHA-256 {fingerprint(public_key)})")
    return Verdict(True, f"{path}: {len(files)} files match {MANIFEST}, signed by {whose}; exported "
                   f"by {manifest['exported_by']}, audit record {manifest['audit']['export_record']['seq']}")


def _audit_problem(manifest: dict[str, object], files: dict[str, str]) -> str | None:
    try:
        audit = manifest["audit"]
        assert isinstance(audit, dict)
        record = audit["export_record"]
        digest = audit_hash(record["seq"], record["at"], record["actor"], record["action"], record["target"],
                            record["detail"], record["source"], record["prev_hash"])
    except (KeyError, TypeError, AssertionError) as error:
        return f"no export audit record ({error})"
    if digest != record["hash"]:
        return f"the export's audit record {record['seq']} does not match its own hash"
    if record["prev_hash"] != audit.get("head_at_export"):
        return f"the export's audit record {record['seq']} does not follow the audit head given at export"
    if record["detail"].get("files") != {name: sha for name, sha in files.items()}:
        return f"the export's audit record {record['seq']} lists other file hashes than the manifest"
    return None


def _read(archive: zipfile.ZipFile, name: str) -> bytes | Verdict:
    try:
        return archive.read(name)
    except (zipfile.BadZipFile, zlib.error, OSError, EOFError, ValueError) as error:
        # a byte changed inside the zip's compressed data: its CRC or its decompression fails
        return Verdict(False, f"{name}: damaged in the zip ({error})", name)
