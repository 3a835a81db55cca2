"""The ansible-runner adapter: the only importers of ansible_runner (local, prefork, nodes)."""
