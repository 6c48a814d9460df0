// Handover rounds for the benches: each system (hipvpn, wireguard-go) started fresh on one
// mobility lab, a scenario's event run under traffic, rounds taking turns so a drifting lab
// favours neither. Shared by `npm run bench:handover` and `npm run bench:nat`.

import { measureHandover, type HandoverMeasurement, type PathUnderTest } from './handover.js';
import { MARK, SCENARIOS, type HandoverScenario, type ScenarioId } from './handover-scenarios.js';
import type { MobilityLab } from './mobility.js';
import { startMobilityHipvpn, startMobilityWireguard } from './scenarios.js';

export type HandoverSystem = 'hipvpn' | 'wireguard-go';

interface RunningPath {
  readonly path: PathUnderTest;
  stop(): Promise<void>;
}

async function startSystem(system: string, mobility: MobilityLab): Promise<RunningPath> {
  if (system === 'wireguard-go') {
    const wg = await startMobilityWireguard(mobility);
    return { path: wg, stop: () => wg.wireguard.stop() };
  }
  if (system === 'hipvpn') {
    const hip = await startMobilityHipvpn(mobility);
    return { path: hip, stop: async () => void (await Promise.all([hip.mobileVpn.stop(), hip.serverVpn.stop()])) };
  }
  throw new Error(`unknown system ${system} (known: wireguard-go, hipvpn)`);
}

/** The moment after which "resumed" is measured: the new uplink's arrival, or the event. */
export function resumeMark(scenario: HandoverScenario): string {
  if (scenario.id === 'break-before-make') return MARK.cellUp;
  if (scenario.id === 'make-before-break') return MARK.wifiDown;
  return MARK.farSideCut;
}

/** One round in words: gap, loss, when traffic resumed, TCP. */
export function describeRound(result: HandoverMeasurement, scenario: HandoverScenario, recoverMs: number): string {
  const tcp = result.tcp === null ? '' : result.tcpSurvived ? ', TCP survived' : `, TCP did not survive${result.tcp?.error ? ` (${result.tcp.error})` : ''}`;
  if (result.gapMs === null) {
    return `not recovered within ${(recoverMs / 1000).toFixed(0)} s (${result.lost} packets lost by then)${tcp}`;
  }
  const resumed = result.resumeAfter(resumeMark(scenario));
  return (
    `gap ${result.gapMs.toFixed(0).padStart(5)} ms, lost ${String(result.lost).padStart(4)} packets, ` +
    `resumed ${resumed === null ? '-' : resumed.toFixed(0)} ms after ${resumeMark(scenario)}${tcp}` +
    (result.tcp ? ` (longest TCP stall ${result.tcp.longestStallMs.toFixed(0)} ms)` : '')
  );
}

export interface HandoverRoundsOptions {
  readonly scenarios: readonly ScenarioId[];
  readonly systems: readonly string[];
  /** Rounds per scenario. */
  roundsOf(id: ScenarioId): number;
  readonly recoverMs: number;
  /** Measure a TCP transfer beside the UDP streams (default true). */
  readonly tcp?: boolean;
  /** Printed before each row. */
  readonly rowPrefix?: string;
}

export interface HandoverRounds {
  /** Per `${scenario}/${system}`, one measurement per round (null: the round failed). */
  readonly results: Map<string, Array<HandoverMeasurement | null>>;
  /** A round threw. */
  readonly failed: boolean;
}

/** Every scenario's rounds on one lab, reset before each; prints a row per round. */
export async function runHandoverRounds(mobility: MobilityLab, options: HandoverRoundsOptions): Promise<HandoverRounds> {
  const results = new Map<string, Array<HandoverMeasurement | null>>();
  let failed = false;
  for (const id of options.scenarios) {
    const scenario = SCENARIOS[id];
    if (!scenario) throw new Error(`unknown scenario ${id}`);
    const rounds = options.roundsOf(id);
    const turns = Array.from({ length: rounds }, (_, round) => (round % 2 === 0 ? options.systems : [...options.systems].reverse()).map((system) => ({ system, round })));
    for (const { system, round } of turns.flat()) {
      const label = `${options.rowPrefix ?? ''}${id.padEnd(18)} ${system.padEnd(13)}${rounds > 1 ? ` round ${round + 1}/${rounds}` : ''}`;
      const key = `${id}/${system}`;
      if (!results.has(key)) results.set(key, []);
      await mobility.reset();
      let running: RunningPath | undefined;
      try {
        running = await startSystem(system, mobility);
        await scenario.prepare(mobility);
        const result = await measureHandover(running.path, scenario.step(mobility), { recoverWithinMs: options.recoverMs, tcp: options.tcp ?? true });
        results.get(key)!.push(result);
        console.log(`${label} ${describeRound(result, scenario, options.recoverMs)}`);
      } catch (error) {
        failed = true;
        results.get(key)!.push(null);
        console.log(`${label} failed: ${(error as Error).message.split('\n')[0]}`);
      } finally {
        await running?.stop();
      }
    }
  }
  return { results, failed };
}

/** The median; a round that failed or never recovered (null) counts as endless. */
export function medianOrNull(values: ReadonlyArray<number | null>): number | null {
  const sorted = values.map((v) => v ?? Number.POSITIVE_INFINITY).sort((a, b) => a - b);
  if (sorted.length === 0) return null;
  const mid = sorted.length / 2;
  const m = sorted.length % 2 === 1 ? sorted[Math.floor(mid)]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
  return Number.isFinite(m) ? m : null;
}

/** The median gap of the rounds; a round that failed or never recovered counts as endless. */
export function medianGap(rounds: ReadonlyArray<HandoverMeasurement | null>): number | null {
  return medianOrNull(rounds.map((r) => r?.gapMs ?? null));
}
