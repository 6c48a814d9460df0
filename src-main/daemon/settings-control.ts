// What the user decides, held by the daemon and changed over the control API: the settings
// (`settings.get` / `settings.set`), the flow bindings (`flow.set` / `flow.remove`) and the tunnel
// switch (`tunnel.set`), each in its own file in the state dir. The daemon routes those methods
// here and adds `tunnelUp` and `flows` to its status; everything else about the engine stays in
// daemon.ts.

import type { ControlEvent, ControlHandlers, FlowStatus, PeerStatus, Settings, Uplink } from '../../src-shared/control-api.js';
import { ApiError } from '../../src-shared/control-error.js';
import { FlowService, flowWorld, type PlacedFlow } from '../flows/flow-service.js';
import { logLine } from './event-log.js';
import { SettingsStore } from './settings-store.js';
import { TunnelToggle, type TunnelTarget } from './tunnel-toggle.js';

export const SETTINGS_CONTROL_METHODS = ['settings.get', 'settings.set', 'flow.set', 'flow.remove', 'tunnel.set'] as const;
export type SettingsControlMethod = (typeof SETTINGS_CONTROL_METHODS)[number];

/** What the daemon lends once its engine runs. */
export interface SettingsControlHost extends TunnelTarget {
  /** Broadcasts an event to subscribers (and logs it). */
  emit(e: ControlEvent): void;
  /** The configured peers' names: a flow must go to one of them. */
  peerNames(): string[];
  /** The flow bindings changed: the engine steers by the new ones. */
  flowsChanged(): void;
}

export class SettingsControl {
  private host: SettingsControlHost | undefined;

  private constructor(
    readonly settings: SettingsStore,
    readonly flows: FlowService,
    readonly tunnel: TunnelToggle,
    private readonly log: (line: string) => void,
  ) {}

  /** Reads the three files; before the engine starts, since the tunnel switch decides what it may do. */
  static async open(stateDirRoot: string, log: (line: string) => void): Promise<SettingsControl> {
    const warn = (message: string): void => log(logLine('warning', { message }));
    const [settings, flows, tunnel] = await Promise.all([
      SettingsStore.open(stateDirRoot, warn),
      FlowService.open(stateDirRoot, warn),
      TunnelToggle.open(stateDirRoot, warn),
    ]);
    const control = new SettingsControl(settings, flows, tunnel, log);
    settings.subscribe((next: Settings) => control.host?.emit({ type: 'settings', settings: next }));
    return control;
  }

  attach(host: SettingsControlHost): void {
    this.host = host;
  }

  /** The daemon's handlers for SETTINGS_CONTROL_METHODS. Refusals throw ApiError. */
  readonly handlers: Pick<ControlHandlers, SettingsControlMethod> = {
    'settings.get': async () => this.settings.get(),
    'settings.set': async (patch) => {
      const r = await this.settings.set(patch);
      if (!r.ok) throw new ApiError('invalid-params', r.error);
      return r.value.settings;
    },
    'flow.set': async (binding) => {
      const r = await this.flows.set(binding, this.requireHost().peerNames());
      if (!r.ok) throw new ApiError(r.error.code === 'unknown-flow' ? 'invalid-params' : r.error.code, r.error.message);
      this.log(logLine('flow', { fid: r.value.flow.fid, peer: r.value.flow.peer, interface: r.value.flow.interface, replaced: r.value.replaced }));
      this.host?.flowsChanged();
      return r.value;
    },
    'flow.remove': async ({ fid }) => {
      const r = await this.flows.remove(fid);
      if (!r.ok) throw new ApiError('invalid-params', r.error.message);
      this.log(logLine('flow-removed', { fid: r.value.removed.fid, peer: r.value.removed.peer }));
      this.host?.flowsChanged();
      return r.value;
    },
    'tunnel.set': async ({ up }) => {
      const r = await this.tunnel.set(up, this.requireHost());
      if (r.changed) this.log(logLine('tunnel', { up: r.up }));
      return { up: r.up };
    },
  };

  /** The status fields this part of the daemon owns. */
  statusFields(
    peers: readonly PeerStatus[], uplinks: readonly Uplink[] | undefined, placed?: (peer: string, fid: number) => PlacedFlow | undefined,
  ): { tunnelUp: boolean; flows: FlowStatus[] } {
    return { tunnelUp: this.tunnel.up, flows: this.flows.status(flowWorld(peers, uplinks), placed) };
  }

  private requireHost(): SettingsControlHost {
    if (!this.host) throw new ApiError('internal', 'the daemon is still starting; try again');
    return this.host;
  }
}
