// The six handover scenarios of issue 4, as steps on the mobility lab, shared by the system
// tests and `npm run bench:handover`. Each names the moments that matter with mark(), so results
// can say how long after, say, cell0's address appeared the traffic was back.

import type { HandoverStep } from './handover.js';
import { sleep } from './hipvpn.js';
import type { CellStart, MobilityLab } from './mobility.js';

/** Make-before-break: how long cell0 is up before wifi0 goes (time to notice and test it). */
export const SECOND_UPLINK_LEAD_MS = 2_000;
/** Break-before-make: how long the laptop has no uplink at all. */
export const NO_UPLINK_MS = 2_000;
/** Silent failure, one-way path: cell0 is up this long before the event, so it is known. */
export const KNOWN_UPLINK_SETTLE_MS = 2_000;

export type ScenarioId = 'make-before-break' | 'break-before-make' | 'silent-failure' | 'renumbering' | 'one-way-path' | 'site-multihoming';

export interface HandoverScenario {
  readonly id: ScenarioId;
  readonly description: string;
  /** cell0's state when the lab is built for this scenario alone. */
  readonly cell0: CellStart;
  readonly server: 'direct' | 'behind-multihomed-nat';
  /** Who starts the base exchange (the server, when it sits behind its site's NAT). */
  readonly initiator: 'mobile' | 'server';
  /** Before traffic starts: bring the lab to the scenario's starting point. */
  prepare(mobility: MobilityLab): Promise<void>;
  /** The event, while traffic flows. */
  step(mobility: MobilityLab): HandoverStep;
}

export const MARK = {
  cellUp: 'cell0 up',
  wifiDown: 'wifi0 down',
  farSideCut: 'wifi0 far side cut',
  renumbered: 'wifi0 renumbered',
  downstreamDropped: 'wifi0 downstream dropped',
  siteIsp1Down: 'site isp1 down',
} as const;

const nothing = async (): Promise<void> => {};

async function cellKnown(mobility: MobilityLab): Promise<void> {
  await mobility.bringUpCell();
  await sleep(KNOWN_UPLINK_SETTLE_MS);
}

export const SCENARIOS: Readonly<Record<ScenarioId, HandoverScenario>> = {
  'make-before-break': {
    id: 'make-before-break',
    description: `cell0 comes up, ${SECOND_UPLINK_LEAD_MS} ms later wifi0 goes down`,
    cell0: 'absent',
    server: 'direct',
    initiator: 'mobile',
    prepare: nothing,
    step: (mobility) => async (mark) => {
      await mobility.bringUpCell();
      mark(MARK.cellUp);
      await sleep(SECOND_UPLINK_LEAD_MS);
      await mobility.takeDownWifi();
      mark(MARK.wifiDown);
    },
  },
  'break-before-make': {
    id: 'break-before-make',
    description: `wifi0 goes down, cell0 gets its address ${NO_UPLINK_MS} ms later`,
    cell0: 'no-address',
    server: 'direct',
    initiator: 'mobile',
    prepare: nothing,
    step: (mobility) => async (mark) => {
      await mobility.takeDownWifi();
      mark(MARK.wifiDown);
      await sleep(NO_UPLINK_MS);
      await mobility.bringUpCell();
      mark(MARK.cellUp);
    },
  },
  'silent-failure': {
    id: 'silent-failure',
    description: "wifi0's far side drops everything; wifi0 stays up with its address and route",
    cell0: 'up',
    server: 'direct',
    initiator: 'mobile',
    prepare: cellKnown,
    step: (mobility) => async (mark) => {
      await mobility.cutWifiFarSide();
      mark(MARK.farSideCut);
    },
  },
  renumbering: {
    id: 'renumbering',
    description: 'wifi0 gets a new address in its subnet (new DHCP lease); cell0 stays down',
    cell0: 'down',
    server: 'direct',
    initiator: 'mobile',
    prepare: nothing,
    step: (mobility) => async (mark) => {
      await mobility.renumberWifi();
      mark(MARK.renumbered);
    },
  },
  'one-way-path': {
    id: 'one-way-path',
    description: 'on the Wi-Fi path, packets towards the laptop are dropped (nftables); the laptop\'s still get out',
    cell0: 'up',
    server: 'direct',
    initiator: 'mobile',
    prepare: cellKnown,
    step: (mobility) => async (mark) => {
      await mobility.dropWifiDownstream();
      mark(MARK.downstreamDropped);
    },
  },
  'site-multihoming': {
    id: 'site-multihoming',
    description: "the server's site loses ISP 1; its NAT sends the server's packets out of ISP 2 from another address",
    cell0: 'down',
    server: 'behind-multihomed-nat',
    initiator: 'server',
    prepare: nothing,
    step: (mobility) => async (mark) => {
      await mobility.failSiteIsp1();
      mark(MARK.siteIsp1Down);
    },
  },
};
