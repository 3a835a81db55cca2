"""The built-in lab (DESIGN §7): real sshd hosts and WS-Management hosts on one machine."""

from restore.lab import providers
from restore.lab.lab import Lab, LabHost

# Whoever imports the lab has its hosts reimaged and isolated through it (the engine never
# imports the lab: restore.execution.providers); `restore run` and `rehearse` also register
# them explicitly.
providers.register()

__all__ = ["Lab", "LabHost"]
