"""Running the app under uvicorn on a socket bound before the model loads."""
from __future__ import annotations

import socket

from .config import ServerConfig


def bind(host: str, port: int, backlog: int = 2048) -> socket.socket:
    """A listening TCP socket on ``host:port`` (``port=0`` picks a free one); OSError when impossible."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    family, kind, proto, _, address = infos[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        sock.bind(address)
        sock.listen(backlog)
    except OSError:
        sock.close()
        raise
    sock.set_inheritable(True)
    return sock


def serve(config: ServerConfig, sock: socket.socket, log_level: str = "info") -> None:
    """Serve until interrupted (Ctrl-C or SIGTERM finishes requests in flight, then stops)."""
    import uvicorn

    from .app import create_app
    from .protocol import protocol_class

    uv_config = uvicorn.Config(
        create_app(config), http=protocol_class(config.header_timeout, config.max_connections), lifespan="on",
        timeout_keep_alive=int(max(1, config.keepalive_timeout)),
        timeout_graceful_shutdown=10, log_level=log_level, server_header=False, access_log=log_level == "debug")
    uvicorn.Server(uv_config).run(sockets=[sock])
