"""The search service: an ASGI app (FastAPI) with a micro-batched encoder pool and a static web app."""
from .app import create_app
from .config import ServerConfig

__all__ = ["ServerConfig", "create_app"]
