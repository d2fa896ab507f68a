"""JobService: the API role of the orchestrator (it validates, starts workflows, reads the progress store)."""
