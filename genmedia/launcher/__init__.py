"""`make run`: the launcher that starts, checks and supervises the whole stack."""
