#!/bin/sh
# deb/rpm postrm: remove what after-install.sh added (the TUN goes with `ip link del` if present).
set -e
if [ -L /usr/bin/hipvpn ] && [ "$(readlink /usr/bin/hipvpn)" = /opt/hipvpn/resources/hipvpn-cli ]; then
  rm -f /usr/bin/hipvpn
fi
ip link show hip0 >/dev/null 2>&1 && ip link delete hip0 || true
exit 0
