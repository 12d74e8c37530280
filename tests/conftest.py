"""Suite-wide settings: property tests judged on what they find, not on how fast a loaded CI machine runs."""

from hypothesis import HealthCheck, settings

# CI runs on 2 shared cores with xdist: time-based health checks and deadlines would fail at random.
settings.register_profile("ci", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("ci")
