"""`genmedia-gateway`: runs the HTTP gateway and web console (configured by GENMEDIA_GATEWAY_* variables)."""

from __future__ import annotations

from genmedia.config import load_or_exit
from genmedia.serving.server import run_main
from services.gateway.config import Settings
from services.gateway.server import serve_forever


def main() -> None:
    settings = load_or_exit("genmedia-gateway", Settings.from_env)
    run_main(settings.serving, lambda: serve_forever(settings))


if __name__ == "__main__":
    main()
