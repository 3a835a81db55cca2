"""Per-site execution nodes: hosts that run ansible-runner's worker for their site's hosts."""

NODE_VENV = "/opt/restore-node/venv"
NODE_RUNNER = NODE_VENV + "/bin/ansible-runner"
