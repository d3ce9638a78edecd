"""Administration: roles now; invitations, groups, flags and user lifecycle join later."""
