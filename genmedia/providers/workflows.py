"""ComfyUI workflow files and where a job's values go in them.

A workflow is exported in API format (File > Export (API)). genmedia finds its inputs by node title
(`_meta.title`, set in ComfyUI with "Title" on the node):

| title | inputs set |
|---|---|
| `genmedia.prompt` | `text` (or `prompt`): the prompt, with its style |
| `genmedia.negative_prompt` | `text` (or `prompt`): the negative prompt |
| `genmedia.seed` | `seed` (or `noise_seed`): the seed (+ the image's index) |
| `genmedia.size` | `width`, `height` (and `batch_size` = 1) |
| `genmedia.image` | `image`: the uploaded input image (video workflows) |
| `genmedia.video` | `length` / `frames` / `frame_count` / `video_frames`, and `fps` / `frame_rate` |

A workflow without a `genmedia.prompt` node is refused at start-up."""

from __future__ import annotations

import copy
from typing import Any

from genmedia.config import ConfigError

TEXT, SEED = ("text", "prompt"), ("seed", "noise_seed")
FRAMES, FPS = ("length", "frames", "frame_count", "video_frames"), ("fps", "frame_rate")


def nodes_titled(workflow: dict[str, Any], title: str) -> list[dict[str, Any]]:
    return [node for node in workflow.values() if (node.get("_meta") or {}).get("title") == title]


def check_workflow(setting: str, workflow: dict[str, Any]) -> None:
    if not nodes_titled(workflow, "genmedia.prompt"):
        raise ConfigError(f"{setting}: the workflow has no node titled genmedia.prompt (see docs/providers.md)")


def _set(node: dict[str, Any], names: tuple[str, ...], value: Any, all_of: bool = False) -> None:
    inputs = node.setdefault("inputs", {})
    present = [name for name in names if name in inputs] or [names[0]]
    for name in present if all_of else present[:1]:
        inputs[name] = value


def filled(workflow: dict[str, Any], values: dict[str, Any]) -> dict[str, Any]:
    """A copy of the workflow with the job's values in the titled nodes. `values` has prompt, negative_prompt,
    seed, width, height and optionally image, frames, fps."""
    out = copy.deepcopy(workflow)
    for node in nodes_titled(out, "genmedia.prompt"):
        _set(node, TEXT, values["prompt"])
    for node in nodes_titled(out, "genmedia.negative_prompt"):
        _set(node, TEXT, values.get("negative_prompt", ""))
    for node in nodes_titled(out, "genmedia.seed"):
        _set(node, SEED, values["seed"], all_of=True)
    for node in nodes_titled(out, "genmedia.size"):
        node.setdefault("inputs", {}).update(width=values["width"], height=values["height"])
        if "batch_size" in node["inputs"]:
            node["inputs"]["batch_size"] = 1
    if values.get("image"):
        for node in nodes_titled(out, "genmedia.image"):
            _set(node, ("image",), values["image"])
    for node in nodes_titled(out, "genmedia.video"):
        if values.get("frames"):
            _set(node, FRAMES, values["frames"], all_of=True)
        if values.get("fps"):
            _set(node, FPS, values["fps"], all_of=True)
    return out
