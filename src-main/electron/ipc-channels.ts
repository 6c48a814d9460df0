// The two IPC channels between the preload and the main process. One request channel (invoke,
// answered with a control API response envelope) and one event channel (main → renderer).

export const REQUEST_CHANNEL = 'hipvpn:control-request';
export const EVENT_CHANNEL = 'hipvpn:control-event';

/** The renderer is served from this origin by the app:// protocol handler (window.ts). */
export const APP_ORIGIN = 'app://hipvpn';
export const APP_ENTRY = `${APP_ORIGIN}/index.html`;

/** Only our own page, in its top frame, may call the control API. */
export function isTrustedSenderUrl(url: string | undefined): boolean {
  return url !== undefined && (url === APP_ORIGIN || url.startsWith(`${APP_ORIGIN}/`));
}
