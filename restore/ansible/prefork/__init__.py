"""A pre-forking `ansible-playbook`: one warm interpreter per run, one fork per playbook step.

Why: `restore` runs a playbook once per host step, and a cold `ansible-playbook` spends about
a second importing ansible-core and its plugins before it touches a host. Over a recovery of
hundreds of host steps that is pure waiting, and at `--max-parallel 1` it dominates short
steps. A single `ansible-playbook` over many hosts (the usual way to amortise it) would break
the per-host ordering, gating and journal this tool exists for.

How: the engine starts `server` for the run. ansible-runner still spawns "ansible-playbook"
exactly as before (same arguments, environment, pty, artifacts and event stream), but the name
resolves to `launcher`, which hands its argv, environment, working directory and its three
standard file descriptors to the server. The server, which imported ansible-core once, forks;
the child becomes that ansible-playbook. Nothing else in the pipeline changes.

Safety: ansible-core reads its configuration at import time, so the child only takes the warm
path when every ANSIBLE_* variable and the ansible.cfg it would read are the ones the server
imported with; otherwise it execs the real `ansible-playbook`. The launcher also falls back to
the real program whenever the server cannot be reached. Set RESTORE_ANSIBLE_PREFORK=0 to
disable the whole mechanism.

The engine imports `restore.ansible.prefork.service`; this package itself imports nothing, so that
the launcher, which starts once per playbook step, loads only what it uses.
"""
