#!/usr/bin/env bash
# Installs the Debian packages the test suite drives as real clients, peers and services:
#   image clients       skopeo, podman, buildah, containerd (ctr), busybox-static (a static shell for RUN tests)
#   peers               docker-registry (the reference registry, CNCF Distribution 2.8)
#   services            postgresql-15, nginx-light, swift (+ proxy/account/container/object, memcached for its
#                       tempauth) as a real S3 through s3api, chromium for the web UI's browser tests
#   tools               jq, openssl, curl, apache2-utils (htpasswd), git, eatmydata
# Run as root; otherwise it lists what is missing. Each entry is "package:file-or-command that proves it".
set -euo pipefail
entries=(
  skopeo:skopeo podman:podman buildah:buildah containerd:ctr busybox-static:/bin/busybox
  docker-registry:docker-registry
  postgresql-15:/usr/lib/postgresql/15/bin/postgres nginx-light:nginx memcached:memcached
  swift:swift-ring-builder swift-proxy:swift-proxy-server swift-account:swift-account-server
  swift-container:swift-container-server swift-object:swift-object-server
  chromium:chromium
  jq:jq openssl:openssl curl:curl apache2-utils:htpasswd git:git eatmydata:eatmydata
)
missing=()
for entry in "${entries[@]}"; do
  package=${entry%%:*}
  probe=${entry#*:}
  if [[ $probe == /* ]]; then [ -e "$probe" ] || missing+=("$package")
  else command -v "$probe" >/dev/null 2>&1 || missing+=("$package"); fi
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
# Debian starts some services on install; the tests start their own instances on loopback ports.
for service in nginx postgresql memcached containerd; do
  if command -v systemctl >/dev/null 2>&1; then systemctl stop "$service" >/dev/null 2>&1 || true; fi
  if command -v service >/dev/null 2>&1; then service "$service" stop >/dev/null 2>&1 || true; fi
done
