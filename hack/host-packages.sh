#!/usr/bin/env bash
# Installs, through apt, the host programs the local Kubernetes environment
# needs and a fresh Debian machine may lack: iptables (the kubelet's pod
# source addresses, kube-proxy's Services and the e2e tests' network cuts),
# util-linux's unshare, nsenter and mount (the pods' mount namespaces, the
# node's DNS probe in a pod), and for the real node of `localkube up --node`
# containerd and runc (the pods' runtime), iproute2 (its bridge) and kmod
# (br_netfilter). Does nothing when all are present.
set -euo pipefail

declare -A package_of=([iptables]=iptables [ip6tables]=iptables [unshare]=util-linux [nsenter]=util-linux [mount]=mount
	[containerd]=containerd [ctr]=containerd [runc]=runc [ip]=iproute2 [modprobe]=kmod)
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
