"""The worker role of the orchestrator: workflows, their activities, and the worker that runs them."""
