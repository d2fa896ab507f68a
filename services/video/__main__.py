"""`genmedia-video`: runs the VideoService server (configured by GENMEDIA_VIDEO_* variables)."""

from __future__ import annotations

from genmedia.config import load_or_exit
from genmedia.serving.server import run_main
from services.video.config import Settings
from services.video.server import serve_forever


def main() -> None:
    settings = load_or_exit("genmedia-video", Settings.from_env)
    run_main(settings.serving, lambda: serve_forever(settings))


if __name__ == "__main__":
    main()
