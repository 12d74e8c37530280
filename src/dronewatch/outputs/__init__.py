"""Outputs: what leaves dronewatch (reports, plots; later TAK, SAPIENT, webhooks)."""
