"""The API's routes, a module per resource: each ``routes(service)`` is an ``APIRouter``."""
