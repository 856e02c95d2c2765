#!/usr/bin/env bash
# Installs, through apt, the host programs the local Kubernetes environment
# needs and a fresh Debian machine may lack: iptables (the kubelet's pod
# source addresses and the e2e tests' network cuts) and util-linux's unshare
# and mount (the pods' mount namespaces). Does nothing when all are present.
set -euo pipefail

declare -A package_of=([iptables]=iptables [unshare]=util-linux [mount]=mount)
missing=()
for cmd in "${!package_of[@]}"; do
	if ! command -v "$cmd" >/dev/null && ! [ -x "/usr/sbin/$cmd" ] && ! [ -x "/sbin/$cmd" ]; then
		missing+=("${package_of[$cmd]}")
	fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

sudo=()
if [ "$(id -u)" -ne 0 ]; then
	command -v sudo >/dev/null || { echo "host-packages: need root (or sudo) to apt-get install ${missing[*]}" >&2; exit 1; }
	sudo=(sudo)
fi
echo "host-packages: installing ${missing[*]} with apt-get"
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get install -y --no-install-recommends "${missing[@]}" ||
	{ "${sudo[@]}" apt-get update && "${sudo[@]}" apt-get install -y --no-install-recommends "${missing[@]}"; }
