"""The built-in lab (DESIGN §7): real sshd hosts and WS-Management hosts on one machine."""

from restore.lab.lab import Lab, LabHost

__all__ = ["Lab", "LabHost"]
