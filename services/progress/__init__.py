"""The progress service: the read model of jobs, recording every event and streaming it to watchers."""
