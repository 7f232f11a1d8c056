"""Serving a run's page: the port is checked before anything loads, the page binds to localhost unless told
otherwise, and the one line printed says where it is and who can reach it."""

from __future__ import annotations

import errno
import ipaddress
import socket
from collections.abc import Callable
from pathlib import Path

from cnnlab.app import build, page_module
from cnnlab.errors import CnnlabError


def reach(host: str) -> str:
    """Who can reach a server bound to `host`: "local" (loopback), "all" (every interface) or "network"."""
    if host == "localhost":
        return "local"
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return "network"
    return "local" if address.is_loopback else "all" if address.is_unspecified else "network"


def check_port(host: str, port: int) -> None:
    """A one-line error unless a server could listen on host:port now (bound and released at once, with the
    SO_REUSEADDR the server itself uses)."""
    if not 1 <= port <= 65535:
        raise CnnlabError(f"--port must be 1..65535, got {port}")
    if not host.strip():  # an empty address binds every interface, which must be asked for by name
        raise CnnlabError(f"--host {host!r} is empty; give 127.0.0.1 (this machine) or 0.0.0.0 (every interface)")
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError as e:
            if e.errno == errno.EADDRINUSE:
                raise CnnlabError(f"port {port} on {host} is in use; choose another --port") from None
            reason = e.strerror or type(e).__name__
            raise CnnlabError(
                f"cannot listen on {host} port {port} ({reason}); give --host 127.0.0.1 (or 0.0.0.0) and a free --port"
            ) from None


def where(host: str, port: int) -> str:
    """The address to open, and who can reach it."""
    url = f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"
    who = reach(host)
    if who == "local":
        return f"{url} (localhost only; --host 0.0.0.0 to share it on the network)"
    if who == "all":
        return (
            f"{url} (every network interface: anyone who can reach this machine can use it; "
            f"here: http://127.0.0.1:{port})"
        )
    return f"{url} (reachable from the network at {host})"


def serve(
    run: str | Path, host: str = "127.0.0.1", port: int = 7860, topk: int = 3, announce: Callable[[str], None] = print
) -> None:
    """Build the page for a run and serve it until interrupted (no share link, no telemetry, no server-side
    rendering). `announce` gets one line once the page answers."""
    page_module()  # no gradio: say so before loading anything
    check_port(host, port)
    page = build(run, topk)
    try:
        page.launch(
            server_name=host,
            server_port=port,
            share=False,
            ssr_mode=False,
            mcp_server=False,
            pwa=False,
            quiet=True,
            prevent_thread_lock=True,
        )
    except OSError as e:  # the port was taken between the check and the launch
        raise CnnlabError(f"cannot serve on {host} port {port} ({e}); choose another --port") from None
    announce(f"serving {run} at {where(host, port)}; Ctrl+C stops it")
    page.block_thread()
