#!/usr/bin/env bash
# Installs the Debian packages the test suite drives as real clients and peers:
# skopeo, podman, buildah (image clients), docker-registry (the reference registry, CNCF Distribution 2.8),
# jq, openssl, curl and apache2-utils (htpasswd). Run as root; otherwise it lists what is missing.
set -euo pipefail
packages=(skopeo podman buildah docker-registry jq openssl curl apache2-utils)
commands=(skopeo podman buildah docker-registry jq openssl curl htpasswd)
missing=()
for i in "${!commands[@]}"; do
  command -v "${commands[$i]}" >/dev/null 2>&1 || missing+=("${packages[$i]}")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "test dependencies present"
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "missing Debian packages: ${missing[*]}" >&2
  echo "install them with: sudo apt-get install -y ${missing[*]}" >&2
  exit 1
fi
echo "installing Debian packages: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
