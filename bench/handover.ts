// Handover: how long traffic stops, and what is lost, when the laptop moves between uplinks —
// hipvpn against wireguard-go (roaming by endpoint update, persistent keepalive 1 s: its best
// case) in the same namespaces, in the same run. Scenarios 1–3 of issue 4: make-before-break,
// break-before-make, silent failure of wifi0's far side. A 100 packets/s UDP stream runs each
// way and a 1 MB/s TCP transfer runs mobile -> server throughout. The last line is the ratio the
// issue sets a target for. Needs root. Run: npm run bench:handover
//
// Knobs: HANDOVER_RECOVER_MS (how long a system gets to recover, default 30000),
// HANDOVER_ONLY (comma list of wireguard-go,hipvpn), HANDOVER_SCENARIOS (comma list of
// make-before-break,break-before-make,silent-failure).

import { measureHandover, type HandoverMeasurement, type PathUnderTest } from '../test/lab/handover.js';
import { MARK, SCENARIOS, type HandoverScenario, type ScenarioId } from '../test/lab/handover-scenarios.js';
import { MobilityLab, startMobilityHipvpn, startMobilityWireguard } from '../test/lab/scenarios.js';

const RECOVER_MS = Number(process.env.HANDOVER_RECOVER_MS ?? 30_000);
const SYSTEMS = (process.env.HANDOVER_ONLY ?? 'wireguard-go,hipvpn').split(',');
const SCENARIO_IDS = (process.env.HANDOVER_SCENARIOS ?? 'make-before-break,break-before-make,silent-failure').split(',') as ScenarioId[];

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
function resumeMark(scenario: HandoverScenario): string {
  if (scenario.id === 'break-before-make') return MARK.cellUp;
  if (scenario.id === 'make-before-break') return MARK.wifiDown;
  return MARK.farSideCut;
}

function describe(result: HandoverMeasurement, scenario: HandoverScenario): string {
  const tcp = result.tcpSurvived ? 'TCP survived' : `TCP did not survive${result.tcp?.error ? ` (${result.tcp.error})` : ''}`;
  if (result.gapMs === null) {
    return `not recovered within ${(RECOVER_MS / 1000).toFixed(0)} s (${result.lost} packets lost by then), ${tcp}`;
  }
  const resumed = result.resumeAfter(resumeMark(scenario));
  return (
    `gap ${result.gapMs.toFixed(0).padStart(5)} ms, lost ${String(result.lost).padStart(4)} packets, ` +
    `resumed ${resumed === null ? '-' : resumed.toFixed(0)} ms after ${resumeMark(scenario)}, ${tcp}` +
    (result.tcp ? ` (longest TCP stall ${result.tcp.longestStallMs.toFixed(0)} ms)` : '')
  );
}

async function main(): Promise<number> {
  console.log(
    `handover: mobile (wifi0, cell0) <-> server; 100 packets/s UDP each way + 1 MB/s TCP; ` +
      `each system gets ${(RECOVER_MS / 1000).toFixed(0)} s to recover; same namespaces for all`,
  );
  // One lab for every run: cell0 starts down (a modem not yet connected) and is put back so.
  const mobility = await MobilityLab.create({ cell0: 'down' });
  const results = new Map<string, HandoverMeasurement>();
  let failed = false;
  try {
    for (const id of SCENARIO_IDS) {
      const scenario = SCENARIOS[id];
      if (!scenario) throw new Error(`unknown scenario ${id}`);
      for (const system of SYSTEMS) {
        const label = `${id.padEnd(18)} ${system.padEnd(13)}`;
        await mobility.reset();
        let running: RunningPath | undefined;
        try {
          running = await startSystem(system, mobility);
          await scenario.prepare(mobility);
          const result = await measureHandover(running.path, scenario.step(mobility), { recoverWithinMs: RECOVER_MS });
          results.set(`${id}/${system}`, result);
          console.log(`${label} ${describe(result, scenario)}`);
        } catch (error) {
          failed = true;
          console.log(`${label} failed: ${(error as Error).message.split('\n')[0]}`);
        } finally {
          await running?.stop();
        }
      }
    }
  } finally {
    await mobility.teardown();
  }

  const hip = results.get('break-before-make/hipvpn');
  const wg = results.get('break-before-make/wireguard-go');
  const prefix = 'handover gap ratio hipvpn/wireguard-go (break-before-make):';
  if (hip?.gapMs != null && wg?.gapMs != null && wg.gapMs > 0) {
    console.log(`${prefix} ${(hip.gapMs / wg.gapMs).toFixed(2)}`);
  } else {
    const why = [hip, wg].map((r, i) => `${i === 0 ? 'hipvpn' : 'wireguard-go'} ${r === undefined ? 'not measured' : r.gapMs === null ? 'not recovered' : 'ok'}`);
    console.log(`${prefix} n/a (${why.join(', ')})`);
  }
  return failed ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(`bench:handover: ${error instanceof Error ? error.message : String(error)}`);
    process.exit(1);
  },
);
