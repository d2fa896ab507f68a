"""The orchestrator: JobService (API role) and the Temporal worker running job workflows (worker role)."""
