"""restore: bring a hospital's servers back after ransomware, in clinical order, proven clean."""

__version__ = "0.1.0"
