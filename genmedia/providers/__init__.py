"""The provider layer shared by the image and video services: HTTP/WebSocket clients of OpenAI, Replicate and
ComfyUI, their settings, error classification, metrics, the async backend interface and the call runner.

The services keep only thin backends (services/*/backends) that map a request onto these clients; see
docs/providers.md for the design."""
