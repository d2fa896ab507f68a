"""The HTTP gateway: a JSON API, Server-Sent Events, seed 000's workflow endpoints and the web console,
in front of JobService and ProgressService (docs/gateway.md)."""
