"""The renderer's baseline: FFmpeg's own Ken Burns, the `zoompan` filter, run through PyAV's filter graph (so no
ffmpeg binary is needed) and encoded by libx264 with the renderer's settings, as
`ffmpeg -i still.png -vf format=yuv420p,zoompan=... -c:v libx264 -preset veryfast -crf 20` would. The move is
genmedia's zoom-in: the same eased window, from the whole picture to 80% of it."""

from __future__ import annotations

import io
from fractions import Fraction

import av
from PIL import Image

from services.video.backends.kenburns import MOVFLAGS, ZOOM


def zoom_in(frames: int, width: int, height: int, fps: int) -> str:
    """zoompan's options for genmedia's eased zoom-in (kenburns.crop_window) over `frames` frames."""
    ease = f"(0.5-0.5*cos(PI*on/{max(1, frames - 1)}))"
    return (f"z='1/(1-{ZOOM}*{ease})':x='(iw-iw/zoom)/2':y='(ih-ih/zoom)/2'"
            f":d={frames}:s={width}x{height}:fps={fps}")


def render(still: bytes, dest: str, width: int, height: int, fps: int, frames: int, crf: int = 20,
           preset: str = "veryfast") -> int:
    """Writes the MP4 to `dest`; returns the frames encoded. The still must have the output's aspect
    (zoompan crops iw/zoom x ih/zoom)."""
    with Image.open(io.BytesIO(still)) as image:
        picture = av.VideoFrame.from_image(image.convert("RGB"))
    graph = av.filter.Graph()
    chain = [graph.add_buffer(width=picture.width, height=picture.height, format="rgb24",
                              time_base=Fraction(1, fps)),
             graph.add("format", "yuv420p"),
             graph.add("zoompan", zoom_in(frames, width, height, fps)),
             graph.add("buffersink")]
    for a, b in zip(chain, chain[1:], strict=False):
        a.link_to(b)
    graph.configure()
    picture.pts, picture.time_base = 0, Fraction(1, fps)
    graph.push(picture)
    graph.push(None)
    count = 0
    with av.open(dest, mode="w", format="mp4", options={"movflags": MOVFLAGS}) as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.options = {"crf": str(crf), "preset": preset, "x264-params": "mbtree=0"}
        while True:
            try:
                frame = graph.pull()
            except (BlockingIOError, av.error.EOFError):
                break
            frame.pts, frame.time_base = count, Fraction(1, fps)
            frame.pict_type = av.video.frame.PictureType.NONE  # let x264 choose, as ffmpeg does
            container.mux(stream.encode(frame))
            count += 1
        container.mux(stream.encode(None))
    return count
