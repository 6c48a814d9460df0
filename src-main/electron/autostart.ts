// "Start at login" on Linux, where Electron's login-item API does nothing: an XDG autostart
// entry (Desktop Entry Specification 1.5, "Exec" quoting rules) that starts the app hidden in
// the tray. Pure text here; main.ts writes or removes the file.

import { join } from 'node:path';

export const AUTOSTART_FILE = 'hipvpn.desktop';

/** The Exec key's quoting: reserved characters force double quotes, inside which `"`, `` ` ``, `$`, `\` are escaped. */
export function execArg(arg: string): string {
  if (!/[\s"'\\><~|&;$*?#()`=%]/.test(arg) && arg !== '') return arg;
  // "%" is a field code in Exec: a literal one is written "%%".
  return `"${arg.replace(/(["`$\\])/g, '\\$1').replace(/%/g, '%%')}"`;
}

export function autostartEntry(command: readonly string[]): string {
  return [
    '[Desktop Entry]',
    'Type=Application',
    'Name=hipvpn',
    'Comment=HIP VPN: keep connections across Wi-Fi, cellular and NAT changes',
    `Exec=${command.map(execArg).join(' ')}`,
    'Terminal=false',
    'X-GNOME-Autostart-enabled=true',
    '',
  ].join('\n');
}

/** $XDG_CONFIG_HOME/autostart, defaulting to ~/.config as the spec says. */
export function autostartPath(env: { XDG_CONFIG_HOME?: string | undefined; HOME?: string | undefined }): string {
  const base = env.XDG_CONFIG_HOME && env.XDG_CONFIG_HOME.startsWith('/') ? env.XDG_CONFIG_HOME : join(env.HOME ?? '/', '.config');
  return join(base, 'autostart', AUTOSTART_FILE);
}
