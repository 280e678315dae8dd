"""The HTTP API (FastAPI). Routes hold no logic: each calls a service function."""

from opencustoms.api.app import create_app

__all__ = ["create_app"]
