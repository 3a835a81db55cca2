#!/usr/bin/env bash
# Installs everything `make test` and `make demo` need on a fresh Debian machine:
# the system packages (as root, only those missing), the venv, and the package itself.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
venv=${VENV:-$here/.venv}
python=${PYTHON:-python3}

missing=()
while read -r pkg; do
  [[ -z "$pkg" || "$pkg" == \#* ]] && continue
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done < "$here/scripts/system-packages.txt"
if ((${#missing[@]})); then
  if [[ $(id -u) -ne 0 ]]; then
    echo "bootstrap: missing system packages: ${missing[*]}; run as root: apt-get install ${missing[*]}" >&2
    exit 2
  fi
  echo "bootstrap: installing ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

stamp=$venv/.restore-installed
if [[ ! -x $venv/bin/python ]]; then
  "$python" -m venv "$venv"
fi
if [[ ! -f $stamp || $here/pyproject.toml -nt $stamp ]]; then
  "$venv/bin/pip" install -q --disable-pip-version-check -e "$here[dev]"
  touch "$stamp"
fi
