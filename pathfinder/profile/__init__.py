"""The caller's own profile (``/me``) and preferences (``/me/preferences``)."""
