"""`wlb web`: the review queue in a browser (Starlette, Jinja2, uvicorn), on the same service layer as the CLI."""

from __future__ import annotations

import ipaddress
from pathlib import Path

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.accounts import has_accounts
from app.web import routes
from app.web.auth import Throttle
from app.workspace import Workspace
from core.errors import UsageError
from core.settings import Settings

HERE = Path(__file__).parent
SECURITY_HEADERS = [
    (b"content-security-policy", b"default-src 'self'; img-src 'self'; style-src 'self'; script-src 'self'; "
                                 b"form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
    (b"x-frame-options", b"DENY"),
]


class SecurityHeaders:
    """Every response: scripts, styles and images from this server only; no sniffing, no framing."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                names = {k.lower() for k, _ in message.get("headers", [])}
                message["headers"] = [*message.get("headers", []), *(h for h in SECURITY_HEADERS if h[0] not in names)]
            await send(message)

        await self.app(scope, receive, with_headers)


def create_app(ws: Workspace) -> Starlette:
    """The web app over one workspace (database, media store, settings)."""
    app = Starlette(routes=[
        Route("/login", routes.login_form, methods=["GET"]),
        Route("/login", routes.login, methods=["POST"]),
        Route("/logout", routes.logout, methods=["POST"]),
        Route("/", routes.grid, methods=["GET"]),
        Route("/items/{item_id:int}", routes.item_page, methods=["GET"]),
        Route("/items/{item_id:int}/{verb:str}", routes.decide, methods=["POST"]),
        Route("/media/{media_id:int}", routes.media, methods=["GET"]),
        Route("/thumb/{media_id:int}", routes.thumb, methods=["GET"]),
        Mount("/static", StaticFiles(directory=HERE / "static"), name="static"),
    ], middleware=[Middleware(SecurityHeaders)])
    app.state.ws = ws
    app.state.throttle = Throttle()
    app.state.flash = {}
    app.state.signing_in = 0
    return app


def is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a host name: it may resolve to anything


def check_bind(ws: Workspace, host: str) -> None:
    """Another address than loopback only with sign-in configured: an account, or a trusted proxy header."""
    if not is_loopback(host) and not ws.settings.web.trusted_header and not has_accounts(ws.db):
        raise UsageError(f"refusing to listen on {host} with nobody able to sign in: add an account first "
                         f"('wlb user add NAME') or set [web] trusted_header")


def serve(settings: Settings, host: str, port: int, *, announce=print) -> None:
    """Listen until stopped (Ctrl-C)."""
    import uvicorn

    with Workspace(settings) as ws:
        check_bind(ws, host)
        if not has_accounts(ws.db) and not settings.web.trusted_header:
            announce("no accounts yet: nobody can sign in until you run 'wlb user add NAME'")
        shown = f"[{host}]" if ":" in host else host
        announce(f"wlb web: http://{shown}:{port}/ (Ctrl-C stops it)")
        # proxy_headers off: the peer address must stay the proxy's, for [web] trusted_proxies to mean anything.
        uvicorn.run(create_app(ws), host=host, port=port, proxy_headers=False, server_header=False,
                    log_level="warning", lifespan="off")
