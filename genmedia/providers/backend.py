"""The async backend interface of the image and video services: one request in, progress out, outputs out,
cancellable by cancelling the task that awaits `generate`.

Generation mostly waits on a provider, so a backend is a coroutine, not a thread per job; the built-in
placeholders run their CPU work in a thread (asyncio.to_thread) behind the same interface."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Protocol

# A new local file path (ending in the suffix) for an output too big to hold in memory. The service's one lies
# in its scratch folder, where the start-up sweep and the next attempt find what a killed process left.
Scratch = Callable[[str], Path]


def temp_scratch(suffix: str) -> Path:
    """The scratch of a request made outside a service (a script, a test): the system's temporary folder."""
    fd, name = tempfile.mkstemp(prefix="genmedia-", suffix=suffix)
    os.close(fd)
    return Path(name)


@dataclass(frozen=True)
class Request:
    """What to make. Images: `count` of them. Videos: `duration_seconds` at `fps`, from `image` when given."""

    job_id: str
    prompt: str
    negative_prompt: str = ""
    style: str = ""
    seed: int = 0
    width: int = 512
    height: int = 512
    count: int = 1
    duration_seconds: float = 0.0
    fps: int = 0
    motion: str = "zoom_in"
    image: bytes = b""  # the video's first frame or reference image (image→video)
    image_mime: str = ""
    deadline: float | None = None  # time.time() past which the caller no longer waits (for Cancel-After)
    scratch: Scratch = field(default=temp_scratch, repr=False, compare=False)


@dataclass(frozen=True)
class Progress:
    """How far a backend is, in percent of its own work; queue_position > 0 while queued at the provider."""

    percent: float
    message: str
    queue_position: int = 0
    request_id: str = ""
    item: int = 0  # which of the call's outputs this is about


@dataclass(frozen=True)
class Output:
    """One made file, as the provider served it, with the provider's id of its request and its usage. A large
    one (a video) is a local file at `path`, made by the request's scratch, instead of `data`: whoever takes
    the output removes the file (genmedia.providers.outputs stores it, then deletes it)."""

    data: bytes = b""
    content_type: str = ""
    request_id: str = ""
    provider_seconds: float = 0.0
    tokens: int = 0
    path: Path | None = None


def discard_files(outputs: Iterable[Output]) -> None:
    """Removes the outputs' local files (those not stored: a later output failed, or the call was cancelled)."""
    for output in outputs:
        if output.path is not None:
            output.path.unlink(missing_ok=True)


Report = Callable[[Progress], None]


class Backend(Protocol):
    name: str  # the name settings and specs use: openai, replicate, comfyui, procedural, kenburns
    model: str
    max_concurrency: int
    placeholder: bool  # a built-in stand-in: real files, not prompt-faithful pictures

    async def generate(self, request: Request, report: Report) -> list[Output]:
        """Makes the request's outputs, reporting progress. A ProviderError says what failed; on cancellation
        (the job was cancelled or its deadline passed) it stops the work at the provider before returning."""
        ...

    async def aclose(self) -> None:
        """Releases connections (the service is stopping)."""
        ...


def described(request: Request, negative_inline: bool = False) -> str:
    """The prompt with its style (and, for providers without a negative prompt field, what to avoid)."""
    text = request.prompt + (f", in {request.style} style" if request.style else "")
    if negative_inline and request.negative_prompt:
        text += f". Avoid: {request.negative_prompt}"
    return text


async def one_by_one(request: Request, report: Report, make: Callable[[int, Report], Awaitable[list[Output]]]
                     ) -> list[Output]:
    """The request's images made one call each (`make(index, report)`), progress scaled to the whole request."""
    outputs: list[Output] = []
    n = request.count
    for i in range(n):
        def scaled(p: Progress, i: int = i) -> None:
            report(replace(p, percent=(100.0 * i + p.percent) / n, message=f"image {i + 1}/{n}: {p.message}", item=i))

        try:
            made = await make(i, scaled)
        except BaseException:
            discard_files(outputs)
            raise
        discard_files(made[1:])
        outputs += made[:1]
    return outputs
