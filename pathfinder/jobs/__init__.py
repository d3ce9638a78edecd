"""Scheduled jobs: the registry, one-off runs with records, and the leader-elected scheduler."""
