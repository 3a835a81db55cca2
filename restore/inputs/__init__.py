"""What the operator gives: the graph file, the Ansible inventory, and their binding."""
