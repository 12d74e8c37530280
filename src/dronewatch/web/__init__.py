"""The operator dashboard: static files served by the service (no build step)."""
