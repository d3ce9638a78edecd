"""Administration and the account lifecycle: users, roles, groups, invitations, deletion
with cooling-off, and GDPR export."""
