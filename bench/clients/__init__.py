"""Client programs that run in their own processes (pinned to the client CPU)."""
