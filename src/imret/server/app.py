"""The ASGI application: API routes, files, the web app, CORS and body limits."""
from __future__ import annotations

from contextlib import asynccontextmanager
from typing import AsyncIterator

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.staticfiles import StaticFiles

from ..version import __version__
from . import pages, routes
from .config import ServerConfig
from .errors import install_error_handlers
from .limits import BodyLimits
from .service import SearchService


def create_app(config: ServerConfig) -> FastAPI:
    """A FastAPI app serving ``config.index_path``; the model loads in the background at startup."""
    service = SearchService(config)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await service.start()
        try:
            yield
        finally:
            await service.stop()

    app = FastAPI(title="imret image search", version=__version__, lifespan=lifespan,
                  description="Search a gallery index by image. Errors are JSON: `{\"error\": message, "
                              "\"code\": kind}`.")
    app.state.service = service
    install_error_handlers(app)
    app.include_router(routes.router)
    app.include_router(pages.router)
    app.mount("/static", StaticFiles(directory=pages.STATIC_DIR), name="static")
    if config.cors_origins:
        app.add_middleware(CORSMiddleware, allow_origins=list(config.cors_origins), allow_methods=["GET", "POST"],
                           allow_headers=["*"], max_age=600)
    app.add_middleware(BodyLimits, max_bytes=config.max_upload_bytes, timeout=config.body_timeout)
    return app
