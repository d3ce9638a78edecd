"""The provisioning engine: every user's tables, created, verified, migrated and dropped."""

from pathfinder.provisioning.engine import ProvisioningError, Provisioner, Result

__all__ = ["ProvisioningError", "Provisioner", "Result"]
