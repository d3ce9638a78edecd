"""Identity and access: registration, sessions, MFA, RBAC."""
