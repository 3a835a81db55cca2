"""The built-in lab (DESIGN §7): real sshd hosts and WS-Management hosts on one machine."""

from restore.lab.lab import Lab, LabHost

# Importing the lab registers nothing: whoever runs a plan on lab twins (`restore run`,
# `restore rehearse`, bench/rehearse.py) calls restore.lab.providers.register() once itself.

__all__ = ["Lab", "LabHost"]
