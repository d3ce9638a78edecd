"""Feature flags: one evaluator (``evaluator``), system flags (``system``), the admin API."""
