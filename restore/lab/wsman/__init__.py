"""The Windows lab host: a WS-Management endpoint speaking WinRS as pywinrm uses it.

`server.py` is standard-library only and runs inside the host's namespaces under the lab
rootfs's own python3. See docs/lab-windows.md for what it proves and what it does not.
"""
