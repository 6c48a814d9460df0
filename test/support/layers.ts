// The folder layers of hipvpn, bottom first: the one list test/unit/import-layers.test.ts checks
// every import against. docs/design-notes.md ("Layers") says what each layer is for and why it
// sits where it does; change both together.
//
// A folder may import only folders in lower layers. Folders in the same layer are independent of
// each other: an import between them is refused like an upward one, so the two stay movable.

export const LAYERS: readonly (readonly string[])[] = [
  // Shared with the renderer: the control API's types and validators, view models, text formats.
  // Beside it, helpers with no domain: 16-octet addresses, packet batches, HIT order, errors.
  ['src-shared', 'src-main/base'],
  // ESP transforms, SAs and anti-replay, and drawing ESP keys from a KEYMAT (RFC 7402).
  ['src-main/esp'],
  // The HIP protocol, sans-IO: wire codec, identities, crypto, associations, the peer's locators.
  ['src-main/hip'],
  // Mobility policy, sans-IO: local addresses, pair order and selection, failure detection, Poll.
  // Beside it, the relay server's protocol core, sans-IO: registrations and the control relay.
  ['src-main/mobility', 'src-main/relay'],
  // The host, sans-IO: HIP, pair selection and failure detection together, polled for commands.
  ['src-main/core'],
  // The operating system: UDP and TUN I/O, the native addon, the interface monitor, files, clock.
  ['src-main/platform'],
  // What the engine runs on and what the daemon serves: the data plane (ESP worker and fast path)
  // and the flow rules (traffic selectors and their store).
  ['src-main/dataplane', 'src-main/flows'],
  // One HIP host with its sockets, paths and tunnel.
  ['src-main/engine'],
  // The long-running service: state dir, settings, control socket, event log.
  ['src-main/daemon'],
  // The browser UI's server and its bridge to the daemon.
  ['src-main/web'],
  // The front ends: the `hipvpn` command and the Electron app.
  ['src-main/cli', 'src-main/electron'],
];

/** The renderer runs in a browser page: it may import only these. */
export const RENDERER_MAY_IMPORT: readonly string[] = ['src-shared'];

/** The only folder that may import the 'electron' package. */
export const ELECTRON_FOLDER = 'src-main/electron';

/**
 * Product tooling above the product: each may import product folders and the tooling before it
 * in this list, never test/ and never a tool after it. Product folders import none of them.
 */
export const TOOLING: readonly string[] = ['lab', 'bench'];
