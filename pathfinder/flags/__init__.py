"""Feature flags: system flags now; overrides, groups and rollout join with the admin work."""
