"""Checks that what a provider served is the image or video it should be, and the facts recorded with it.

Pillow must open and fully decode an image; PyAV must open a video, find an H.264 (or other) video stream,
decode its first frame and read every packet. Anything else (an HTML error page, a truncated file) is a
BAD_OUTPUT error that says what was served instead."""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import av
from PIL import Image, UnidentifiedImageError

from genmedia.providers.errors import Kind, ProviderError

IMAGE_TYPES = {"PNG": ("image/png", "png"), "JPEG": ("image/jpeg", "jpg"), "WEBP": ("image/webp", "webp"),
               "GIF": ("image/gif", "gif")}
VIDEO_TYPES = {"mp4": ("video/mp4", "mp4"), "mov": ("video/mp4", "mp4"), "webm": ("video/webm", "webm"),
               "matroska": ("video/webm", "webm")}


@dataclass(frozen=True)
class Media:
    mime: str
    extension: str
    width: int
    height: int
    duration: float = 0.0
    frames: int = 0
    fps: float = 0.0


Source = bytes | Path  # an output in memory, or in a local file (a video too large to hold)


def _open(source: Source):
    return io.BytesIO(source) if isinstance(source, bytes) else source.open("rb")


def _served(source: Source, content_type: str) -> str:
    if isinstance(source, bytes):
        data, size = source[:40], len(source)
    else:
        with source.open("rb") as f:
            data, size = f.read(40), source.stat().st_size
    head = data.decode("ascii", "replace")
    shown = "".join(c if c.isprintable() else "." for c in head)
    kind = content_type.split(";")[0].strip() or "no content type"
    return f"{size} bytes of {kind}, starting {shown!r}"


def inspect_image(data: Source, provider: str, content_type: str = "") -> Media:
    try:
        with _open(data) as f, Image.open(f) as image:
            image.load()  # a truncated file fails here, not later in the video service
            kind = IMAGE_TYPES.get(image.format or "")
            if kind is None:
                raise UnidentifiedImageError(f"{image.format} is not an image format genmedia stores")
            return Media(kind[0], kind[1], image.width, image.height)
    except (OSError, UnidentifiedImageError, Image.DecompressionBombError, SyntaxError, ValueError) as exc:
        why = "Pillow cannot read it" if "cannot identify image file" in str(exc) else str(exc)
        raise ProviderError(Kind.BAD_OUTPUT, provider, f"served {_served(data, content_type)} where an image "
                            f"was expected ({why})") from None


def inspect_video(data: Source, provider: str, content_type: str = "") -> Media:
    try:
        with _open(data) as f, av.open(f) as container:
            kind = next((VIDEO_TYPES[name] for name in container.format.name.split(",") if name in VIDEO_TYPES),
                        None)
            if kind is None or not container.streams.video:
                raise ValueError(f"{container.format.name} with no video stream")
            stream = container.streams.video[0]
            next(container.decode(stream))  # the first frame decodes
            container.seek(0)
            frames = sum(1 for packet in container.demux(stream) if packet.size)
            rate = float(stream.average_rate or stream.guessed_rate or 0)
            duration = container.duration / 1e6 if container.duration else (frames / rate if rate else 0.0)
            return Media(kind[0], kind[1], stream.codec_context.width, stream.codec_context.height,
                         duration=round(duration, 3), frames=frames, fps=rate)
    except (av.FFmpegError, StopIteration, ValueError, OSError) as exc:  # OSError: PyAV's errors too
        raise ProviderError(Kind.BAD_OUTPUT, provider, f"served {_served(data, content_type)} where a video was "
                            f"expected ({str(exc).replace(': <none>', '') or 'no frame decodes'})") from None
