"""Handler of ``intelshare oversight serve``, the read-only oversight page. Parsed in cli."""

from __future__ import annotations

import argparse

from streams.settings import Settings

__all__ = ["HOST", "oversight_serve"]

HOST = "127.0.0.1"
"""The page is for this machine only; put an authenticating proxy in front to share it."""


def oversight_serve(settings: Settings, args: argparse.Namespace) -> int:
    """Serve the oversight page on 127.0.0.1 until interrupted."""
    from aiohttp import web

    from streams.cli_audit import exchange_keys
    from streams.oversight_web import oversight_app

    app = oversight_app(settings, exchange_keys(settings, args.exchange_key), ttl=args.cache)
    print(f"oversight page on http://{HOST}:{args.port}/", flush=True)
    web.run_app(app, host=HOST, port=args.port, print=None, access_log=None)
    return 0
