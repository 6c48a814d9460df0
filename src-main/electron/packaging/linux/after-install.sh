#!/bin/sh
# deb/rpm postinst: put the CLI on PATH and give the installing user a persistent TUN, so the
# app runs unprivileged and handovers never need root. No setuid bit is set anywhere.
set -e
app_dir=/opt/hipvpn
chmod 0755 "$app_dir/resources/hipvpn-cli"
ln -sf "$app_dir/resources/hipvpn-cli" /usr/bin/hipvpn

# The user who ran sudo/pkexec; nobody (a root-only install) gets no TUN.
uid="${SUDO_UID:-${PKEXEC_UID:-}}"
if [ -n "$uid" ] && [ "$uid" != 0 ]; then
  home="$(getent passwd "$uid" | cut -d: -f6)"
  if [ -n "$home" ]; then
    state="$home/.config/hipvpn/state"
    /usr/bin/hipvpn setup --state "$state" --tun hip0 --user "$uid" || \
      echo "hipvpn: could not create the TUN now; run 'sudo hipvpn setup --state $state --tun hip0 --user $uid' later" >&2
  fi
fi
exit 0
