"""The built-in lab (DESIGN §7): real sshd hosts and WS-Management hosts on one machine."""

from restore.lab import providers
from restore.lab.lab import Lab, LabHost

# Whoever has the lab has its hosts reimaged and isolated through it (the engine never
# imports the lab: restore.execution.providers).
providers.register()

__all__ = ["Lab", "LabHost"]
