"""Evidence: signed incident packages that anyone can verify."""

from dronewatch.evidence.incident import Incident, collect
from dronewatch.evidence.keys import KEY_FILE, fingerprint, load_public_key, public_pem, site_key
from dronewatch.evidence.package import export
from dronewatch.evidence.verify import Verdict, verify_package

__all__ = ["KEY_FILE", "Incident", "Verdict", "collect", "export", "fingerprint", "load_public_key", "public_pem",
           "site_key", "verify_package"]
