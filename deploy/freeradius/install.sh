#!/bin/sh
# Builds Ativa's FreeRADIUS configuration in CONFDIR: a copy of Debian's stock configuration
# (/etc/freeradius/3.0, or STOCK_DIR) with our files overlaid, only the `ativa` virtual server
# enabled and the `sql` module enabled. CONFDIR must not exist yet, or be empty.
#
#   deploy/freeradius/install.sh /etc/freeradius/ativa
#   freeradius -X -d /etc/freeradius/ativa      # debug run in the foreground
#
# The connection and listen ports come from environment variables read at start: see
# mods-available/sql and sites-available/ativa.
set -eu

if [ $# -ne 1 ]; then
  echo "usage: $0 CONFDIR" >&2
  exit 2
fi
confdir=$1
stock=${STOCK_DIR:-/etc/freeradius/3.0}
here=$(cd "$(dirname "$0")" && pwd)

if [ ! -f "$stock/radiusd.conf" ]; then
  echo "$stock/radiusd.conf not found: install Debian's freeradius package (or set STOCK_DIR)" >&2
  exit 1
fi
if [ -e "$confdir" ] && [ -n "$(ls -A "$confdir")" ]; then
  echo "$confdir exists and is not empty: choose a new directory" >&2
  exit 1
fi

mkdir -p "$confdir"
cp -R "$stock"/. "$confdir"/
cp "$here/mods-available/sql" "$confdir/mods-available/sql"
cp "$here/sites-available/ativa" "$confdir/sites-available/ativa"
cp "$here/clients.conf" "$confdir/clients.conf"

# radiusd.conf names its own directory (raddbdir = /etc/freeradius/3.0), and mods-config, certs
# and the queries are found through it: point it at the copy.
sed -i "s|^raddbdir = .*|raddbdir = $confdir|" "$confdir/radiusd.conf"
# No proxying: it would open an extra UDP port on every address.
sed -i "s|^proxy_requests *= *yes|proxy_requests = no|" "$confdir/radiusd.conf"

# Only our server: the stock `default` listens on 1812/1813 on every address and `inner-tunnel`
# holds 127.0.0.1:18120.
rm -f "$confdir"/sites-enabled/*
ln -s ../sites-available/ativa "$confdir/sites-enabled/ativa"

# Modules: sql on; eap off (PPPoE uses PAP/CHAP/MS-CHAP, and eap refuses to start without the
# TLS certificates that Debian does not generate).
rm -f "$confdir/mods-enabled/eap" "$confdir/mods-enabled/sql"
ln -s ../mods-available/sql "$confdir/mods-enabled/sql"

# FreeRADIUS drops to the user freerad when started as root: it must read the copy.
if [ "$(id -u)" -eq 0 ] && getent passwd freerad >/dev/null 2>&1; then
  chown -R freerad:freerad "$confdir"
fi
chmod -R u+rwX,g+rX,o-rwx "$confdir"
echo "FreeRADIUS configuration for Ativa written to $confdir"
