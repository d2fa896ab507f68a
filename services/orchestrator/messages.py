"""What a notification says: the webhook body (the job as JSON, with the event type and time), and the
Slack message and email rendered from that same body, so a redelivery says exactly what the first did."""

from __future__ import annotations

import json
from email.message import EmailMessage
from typing import Any

from genmedia.domain import notify

MAX_PROMPT = 500


def webhook_body(event: int, time: str, job: dict[str, Any]) -> str:
    """{"type": "job.completed", "timestamp": RFC 3339, "data": the Job as proto JSON} (Standard Webhooks)."""
    return json.dumps({"type": notify.event_name(event), "timestamp": time, "data": job}, separators=(",", ":"),
                      sort_keys=True)


def _summary(body: dict[str, Any]) -> dict[str, Any]:
    job = body.get("data", {})
    spec = job.get("spec", {})
    params = spec.get("video") or spec.get("image") or {}
    prompt = params.get("prompt", "")
    return {
        "id": job.get("id", ""), "state": job.get("state", "").removeprefix("JOB_STATE_"),
        "kind": job.get("kind", "").removeprefix("JOB_KIND_").lower(), "message": job.get("message", ""),
        "prompt": prompt if len(prompt) <= MAX_PROMPT else prompt[:MAX_PROMPT] + "…",
        "error": job.get("error") or {}, "assets": job.get("assets", []), "event": body.get("type", ""),
        "time": body.get("timestamp", ""),
    }


def _asset_line(asset: dict[str, Any]) -> str:
    size = f"{asset.get('width', 0)}x{asset.get('height', 0)}"
    if asset.get("duration_seconds"):
        size += f", {asset['duration_seconds']:g} s"
    return f"{asset.get('mime_type', '?')}  {asset.get('uri', '')}  ({size}, {asset.get('size_bytes', 0)} bytes)"


def _slack_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def slack_message(payload: str) -> bytes:
    """A Slack incoming-webhook message: `text` (the notification's fallback) and `blocks`."""
    s = _summary(json.loads(payload))
    title = f"genmedia {s['kind']} job {s['state'].lower().replace('_', ' ')}"
    lines = [f"*Job* `{s['id']}`", f"*State* {s['state']}"]
    if s["prompt"]:
        lines.append(f"*Prompt* {_slack_escape(s['prompt'])}")
    if s["error"]:
        error = f"{s['error'].get('code', '')}: {s['error'].get('message', '')}"
        lines.append(f"*Error* {_slack_escape(error)}")
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": title[:150]}},
        {"type": "section", "text": {"type": "mrkdwn", "text": "\n".join(lines)[:3000]}},
    ]
    if s["assets"]:
        assets = "\n".join(f"• {_slack_escape(_asset_line(a))}" for a in s["assets"])
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": f"*Assets*\n{assets}"[:3000]}})
    blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": f"{s['event']} at {s['time']}"}]})
    message = {"text": f"{title}: {s['id']}", "blocks": blocks}
    return json.dumps(message, separators=(",", ":")).encode()


def email_message(payload: str, to: str, message_id: str) -> EmailMessage:
    """A plain-text email of the job's result; its Message-ID is the delivery's, so a redelivery is
    recognisably the same message."""
    s = _summary(json.loads(payload))
    message = EmailMessage()
    message["To"] = to
    message["Subject"] = f"genmedia: {s['kind']} job {s['id']} {s['state'].lower().replace('_', ' ')}"
    message["Message-ID"] = f"<{message_id}@genmedia>"
    message["X-Genmedia-Job-Id"] = s["id"]
    message["X-Genmedia-Event"] = s["event"]
    lines = [f"Job {s['id']} ({s['kind']}) is {s['state']}.", ""]
    if s["prompt"]:
        lines.append(f"Prompt:  {s['prompt']}")
    if s["message"]:
        lines.append(f"Message: {s['message']}")
    if s["error"]:
        lines.append(f"Error:   {s['error'].get('code', '')}: {s['error'].get('message', '')}")
    if s["assets"]:
        lines += ["", "Assets:"] + [f"  {_asset_line(a)}" for a in s["assets"]]
    lines += ["", f"{s['event']} at {s['time']}"]
    message.set_content("\n".join(lines) + "\n")
    return message

