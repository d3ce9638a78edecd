"""The provisioning engine: every user's tables, created, verified, migrated and dropped."""

from pathfinder.provisioning.engine import Provisioner, ProvisioningError, Result

__all__ = ["ProvisioningError", "Provisioner", "Result"]
