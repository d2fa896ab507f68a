"""`genmedia-image`: runs the ImageService server (configured by GENMEDIA_IMAGE_* variables)."""

from __future__ import annotations

from genmedia.config import load_or_exit
from genmedia.serving.server import run_main
from services.image.config import Settings
from services.image.server import serve_forever


def main() -> None:
    settings = load_or_exit("genmedia-image", Settings.from_env)
    run_main(settings.serving, lambda: serve_forever(settings))


if __name__ == "__main__":
    main()
