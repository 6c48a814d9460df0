// Start at login on Linux: the XDG autostart entry the app writes must start it hidden in the
// tray, with its path quoted as the Desktop Entry Specification requires.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { autostartEntry, autostartPath, execArg } from '../../src-main/electron/autostart.js';

test('the entry starts the app hidden, with a path that has spaces and specials quoted', () => {
  const entry = autostartEntry(['/opt/hip vpn/hipvpn-desktop', '--hidden']);
  assert.match(entry, /^\[Desktop Entry\]\nType=Application\nName=hipvpn\n/);
  assert.match(entry, /\nExec="\/opt\/hip vpn\/hipvpn-desktop" --hidden\n/);
  assert.equal(execArg('/usr/bin/hipvpn-desktop'), '/usr/bin/hipvpn-desktop', 'plain paths stay bare');
  assert.equal(execArg('/home/a/$HOME/"x"'), '"/home/a/\\$HOME/\\"x\\""', '$ and " escaped inside quotes');
  assert.equal(execArg('/tmp/100%'), '"/tmp/100%%"', 'a literal % is not a field code');
});

test('the file goes to $XDG_CONFIG_HOME/autostart, else ~/.config/autostart', () => {
  assert.equal(autostartPath({ XDG_CONFIG_HOME: '/x/cfg', HOME: '/home/a' }), '/x/cfg/autostart/hipvpn.desktop');
  assert.equal(autostartPath({ HOME: '/home/a' }), '/home/a/.config/autostart/hipvpn.desktop');
  assert.equal(autostartPath({ XDG_CONFIG_HOME: 'relative', HOME: '/home/a' }), '/home/a/.config/autostart/hipvpn.desktop', 'a relative XDG path is ignored, as the spec says');
});
