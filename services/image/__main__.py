"""`genmedia-image`: runs the ImageService server (configured by GENMEDIA_IMAGE_* variables)."""

from __future__ import annotations

import sys

from genmedia.config import ConfigError
from genmedia.serving import run_main
from services.image.config import Settings
from services.image.server import serve_forever


def main() -> None:
    try:
        settings = Settings.from_env()
    except ConfigError as exc:
        sys.exit(f"genmedia-image: {exc}")
    run_main(settings.serving, lambda: serve_forever(settings))


if __name__ == "__main__":
    main()
