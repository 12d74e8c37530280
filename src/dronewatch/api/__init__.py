"""The HTTP and WebSocket API: create_app(config, repository, pipelines)."""
