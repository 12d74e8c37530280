"""The live service: pipeline, sources, and (next) the API."""
