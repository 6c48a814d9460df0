// The responder half of the base exchange that keeps no per-initiator state (RFC 7401 §4.1.1):
// R1s signed ahead of time per generation, puzzles whose #I is derived from a rotating secret so
// an I2 can be checked without remembering the I1, and a difficulty K that follows the load.
// Only an I2 that passes every check here becomes an association.

import { equalBytes } from '../base/bytes.js';
import { hashLength, type CryptoProvider, type EcdhKeyPair, type HashName } from './crypto/provider.js';
import { dhGroupCurve, chooseDhGroup } from './crypto/dh.js';
import { Keymat, drawHipKeys, type HipKeys } from './crypto/keymat.js';
import { verifySolution } from './crypto/puzzle.js';
import { decryptParam } from './crypto/encrypted.js';
import { decodeParams, getParam, getParams, spanIndexOf } from './wire/codec.js';
import { coveredBytes } from './wire/covered.js';
import { ParamType } from './wire/constants.js';
import type { DecodedPacket, ELocator, HipPacket, HostId, LocatorSet, Param } from './wire/params.js';
import {
  hostIdParam, identityFromHostId, verifyWith, type HostIdentityPublic, type LocalHostIdentity,
} from './identity/host-identity.js';
import { buildSignedR1, personalizeR1, TRANSPORT_FORMAT_ESP } from './messages.js';
import type { HipTimers, PuzzlePolicy } from './timers.js';
import { ResponderLoad, type ResponderLoadSnapshot } from './responder-load.js';

export interface ResponderConfig {
  crypto: CryptoProvider;
  identity: LocalHostIdentity;
  dhGroups: readonly number[];
  hipCiphers: readonly number[];
  espSuites: readonly number[];
  hitSuites: readonly number[];
  timers: HipTimers;
  puzzle: PuzzlePolicy;
  /** Signed into every R1: a registrar's REG_INFO, our NAT_TRAVERSAL_MODE. */
  r1Extra?: readonly Param[];
}

/** One signed-R1 generation: its R1_COUNTER, DH keys and puzzle secret live and die together. */
interface Generation {
  counter: bigint;
  createdAt: number;
  /** When a newer generation replaced it; the grace period runs from here. */
  supersededAt: number | undefined;
  secret: Uint8Array;
  dh: Map<number, EcdhKeyPair>;
  signed: Map<string, HipPacket>;
}

/** Everything the association needs from a verified I2. */
export interface AcceptedI2 {
  peer: HostIdentityPublic;
  rhash: HashName;
  keymat: Keymat;
  hipKeys: HipKeys;
  hipCipher: number;
  espSuite: number;
  peerSpi: number;
  keymatIndex: number;
  /** Identifies this exact I2, so a retransmission is answered with the same R2. */
  solutionId: string;
  r1Counter: bigint;
  /** The initiator's locators, covered by the I2 signature (RFC 8047 §4.5). */
  locatorSet: LocatorSet | undefined;
  /** The NAT traversal mode the initiator chose from our R1's list (RFC 9028 §5.4), if any. */
  natMode: number | undefined;
  /** The initiator's flow bindings (seed 002 §3.2), covered by the I2 signature. */
  eLocators: ELocator[];
}

export type I2Verdict = { ok: true; accepted: AcceptedI2 } | { ok: false; reason: string; detail: string };

const refuse = (reason: string, detail: string): I2Verdict => ({ ok: false, reason, detail });

export function hex(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex');
}

export interface ResponderSnapshot extends ResponderLoadSnapshot { r1Counter: bigint; generations: number }

export class Responder {
  private readonly generations: Generation[] = [];
  private nextCounter = 1n;
  private readonly load: ResponderLoad;
  private locatorSet: LocatorSet | undefined;
  private hostWideFlows: ELocator | undefined;
  readonly rhash: HashName;

  constructor(private readonly cfg: ResponderConfig, now: number) {
    this.load = new ResponderLoad(cfg.puzzle, now);
    this.rhash = cfg.identity.rhash;
    this.newGeneration(now);
  }

  /** Counts an I1 or I2 from `address` toward the load that sets K (see ResponderLoad). */
  noteLoad(now: number, address: string): void {
    this.load.note(now, address);
  }

  /**
   * Our locators to list in every R1 from now on. R1s are signed ahead of time, so the ones
   * already signed are dropped and re-signed on demand; a puzzle issued before stays solvable.
   */
  setLocatorSet(locatorSet: LocatorSet | undefined): void {
    this.locatorSet = locatorSet;
    for (const gen of this.generations) gen.signed.clear();
  }

  /**
   * Flow bindings to list in every R1 beside the locators (seed 002 §3.2). The same for every
   * initiator, so R1s stay signed ahead of time; re-signed on demand as for setLocatorSet.
   */
  setHostWideFlows(eLocator: ELocator | undefined): void {
    this.hostWideFlows = eLocator;
    for (const gen of this.generations) gen.signed.clear();
  }

  private newGeneration(now: number): Generation {
    const current = this.generations[this.generations.length - 1];
    if (current !== undefined) current.supersededAt = now;
    const gen: Generation = {
      counter: this.nextCounter++,
      createdAt: now,
      supersededAt: undefined,
      secret: this.cfg.crypto.randomBytes(32),
      dh: new Map(),
      signed: new Map(),
    };
    for (const group of this.cfg.dhGroups) {
      const curve = dhGroupCurve(group);
      if (curve !== null) gen.dh.set(group, this.cfg.crypto.ecdhGenerate(curve));
    }
    this.generations.push(gen);
    // Pre-sign for today's K so the first I1s of the generation cost no signature.
    const k = this.load.snapshot(now).k;
    for (const group of gen.dh.keys()) this.signedR1(gen, group, k);
    return gen;
  }

  /** Refreshes the generation when it is old and forgets those past their grace period. */
  private currentGeneration(now: number): Generation {
    let gen = this.generations[this.generations.length - 1]!;
    if (now - gen.createdAt >= this.cfg.timers.r1RefreshMs) gen = this.newGeneration(now);
    this.prune(now);
    return gen;
  }

  private prune(now: number): void {
    while (this.generations.length > 1) {
      const oldest = this.generations[0]!;
      if (oldest.supersededAt === undefined || now - oldest.supersededAt <= this.cfg.timers.r1GraceMs) break;
      this.generations.shift();
    }
  }

  private signedR1(gen: Generation, group: number, k: number): HipPacket {
    const key = `${group}/${k}`;
    const cached = gen.signed.get(key);
    if (cached !== undefined) return cached;
    const dh = gen.dh.get(group)!;
    const signed = buildSignedR1(this.cfg, {
      counter: gen.counter,
      k,
      lifetimeExponent: this.cfg.puzzle.lifetimeExponent,
      dhGroupId: group,
      dhPublic: dh.publicKey,
      hipCiphers: this.cfg.hipCiphers,
      hostId: hostIdParam(this.cfg.identity),
      hitSuites: this.cfg.hitSuites,
      dhGroups: this.cfg.dhGroups,
      espSuites: this.cfg.espSuites,
      rhashLength: hashLength(this.rhash),
      locatorSet: this.locatorSet,
      extra: [...(this.cfg.r1Extra ?? []), ...(this.hostWideFlows === undefined ? [] : [this.hostWideFlows])],
    });
    gen.signed.set(key, signed);
    return signed;
  }

  /** #I for this initiator, K and generation: recomputable from the I2 alone. */
  private puzzleI(gen: Generation, hitI: Uint8Array, hitR: Uint8Array, k: number): Uint8Array {
    const input = new Uint8Array(33);
    input.set(hitI, 0);
    input.set(hitR, 16);
    input[32] = k & 0xff;
    return this.cfg.crypto.hmac('sha384', gen.secret, input).subarray(0, hashLength(this.rhash));
  }

  /** Whether an answer (an R1, or a NOTIFY to an I1) may go to `address` now: its ration of them. */
  mayAnswer(now: number, address: string): boolean {
    return this.load.mayAnswer(now, address);
  }

  /**
   * The R1 answering an I1 from `address`, or undefined when that source's ration of R1s is
   * spent. The DH group is the first of the initiator's DH_GROUP_LIST that we support (RFC 7401
   * §5.2.6); with none in common, our own first choice, which the initiator will refuse rather
   * than be downgraded. K is the source prefix's or the host's, whichever is higher.
   */
  r1For(now: number, i1: DecodedPacket, address: string): Uint8Array | undefined {
    if (!this.load.mayAnswer(now, address)) return undefined;
    const gen = this.currentGeneration(now);
    const offered = getParam(i1, 'DH_GROUP_LIST')?.groups ?? [];
    const group = chooseDhGroup([...gen.dh.keys()], offered) ?? [...gen.dh.keys()][0]!;
    const k = this.load.k(now, address);
    const signed = this.signedR1(gen, group, k);
    const i = this.puzzleI(gen, i1.senderHit, this.cfg.identity.hit, k);
    return personalizeR1(signed, i1.senderHit, Number(gen.counter & 0xffffn), i);
  }

  /**
   * Verifies an I2 in the order that makes forgeries cheap to reject (RFC 7401 §6.9): puzzle
   * before any DH, DH before the MAC, the MAC before decrypting HOST_ID, the HIT before the
   * signature. Nothing is stored unless every step passes.
   */
  acceptI2(now: number, i2: DecodedPacket): I2Verdict {
    const { crypto, identity } = this.cfg;
    this.prune(now);
    const solution = getParam(i2, 'SOLUTION')!;
    const gen = this.generations.find((g) => Number(g.counter & 0xffffn) === solution.opaque);
    if (gen === undefined) return refuse('puzzle-stale', `no live R1 generation for opaque ${solution.opaque}`);
    const counter = getParam(i2, 'R1_COUNTER');
    if (counter !== undefined && counter.counter !== gen.counter) {
      return refuse('r1-counter', `R1_COUNTER ${counter.counter} does not match generation ${gen.counter}`);
    }
    const hitI = i2.senderHit;
    const hitR = identity.hit;
    if (!equalBytes(solution.i, this.puzzleI(gen, hitI, hitR, solution.k))) {
      return refuse('puzzle-bad-i', 'SOLUTION #I is not one we issued to this initiator at this K');
    }
    if (!verifySolution(crypto, this.rhash, solution.i, hitI, hitR, solution.j, solution.k)) {
      return refuse('puzzle-bad-solution', `#J does not zero the low ${solution.k} bits`);
    }

    const dhParam = getParam(i2, 'DIFFIE_HELLMAN')!;
    const ownDh = gen.dh.get(dhParam.groupId);
    if (ownDh === undefined) return refuse('dh-group', `DH group ${dhParam.groupId} was not offered`);
    const kij = crypto.ecdhCompute(ownDh, dhParam.publicValue);
    if (kij === null) return refuse('dh-invalid', 'initiator DH public value is not a point on the curve');

    const ciphers = getParam(i2, 'HIP_CIPHER')!.ciphers;
    const hipCipher = ciphers[0];
    if (ciphers.length !== 1 || hipCipher === undefined || !this.cfg.hipCiphers.includes(hipCipher)) {
      return refuse('hip-cipher', `I2 HIP_CIPHER [${ciphers.join(',')}] is not one of ours`);
    }
    const keymat = new Keymat(crypto, this.rhash, kij, hitI, hitR, solution.i, solution.j);
    const hipKeys = drawHipKeys(keymat, hipCipher, this.rhash, hitR, hitI);

    const macIndex = spanIndexOf(i2, ParamType.HIP_MAC);
    const mac = getParam(i2, 'HIP_MAC')!;
    if (!equalBytes(crypto.hmac(this.rhash, hipKeys.inInt, coveredBytes(i2, macIndex)), mac.hmac)) {
      return refuse('bad-mac', 'I2 HIP_MAC does not verify');
    }

    const hostId = this.hostIdOf(i2, hipCipher, hipKeys.inEnc);
    if (hostId === undefined) return refuse('bad-encrypted', 'ENCRYPTED does not hold a HOST_ID');
    const parsed = identityFromHostId(crypto, hostId.algorithm, hostId.hi);
    if (!parsed.ok) return refuse('bad-host-id', `${parsed.reason}: ${parsed.detail}`);
    if (!equalBytes(parsed.identity.hit, hitI)) return refuse('hit-mismatch', 'sender HIT is not the hash of the HOST_ID');

    const sig = getParam(i2, 'HIP_SIGNATURE')!;
    const sigIndex = spanIndexOf(i2, ParamType.HIP_SIGNATURE);
    if (sig.algorithm !== parsed.identity.algorithm || !verifyWith(crypto, parsed.identity, coveredBytes(i2, sigIndex), sig.signature)) {
      return refuse('bad-signature', 'I2 HIP_SIGNATURE does not verify');
    }

    const suites = getParam(i2, 'ESP_TRANSFORM')!.suites;
    const espSuite = suites[0];
    if (suites.length !== 1 || espSuite === undefined || !this.cfg.espSuites.includes(espSuite)) {
      return refuse('esp-transform', `I2 ESP_TRANSFORM [${suites.join(',')}] is not one of ours`);
    }
    const formats = getParam(i2, 'TRANSPORT_FORMAT_LIST')?.formats;
    if (formats !== undefined && formats[0] !== TRANSPORT_FORMAT_ESP) {
      return refuse('transport-format', `I2 chose transport format ${formats[0]}`);
    }
    const espInfo = getParam(i2, 'ESP_INFO')!;
    if (espInfo.newSpi === 0 || espInfo.keymatIndex < hipKeys.nextIndex) {
      return refuse('esp-info', `ESP_INFO SPI ${espInfo.newSpi}, KEYMAT index ${espInfo.keymatIndex}`);
    }
    return {
      ok: true,
      accepted: {
        peer: parsed.identity,
        rhash: this.rhash,
        keymat,
        hipKeys,
        hipCipher,
        espSuite,
        peerSpi: espInfo.newSpi,
        keymatIndex: espInfo.keymatIndex,
        solutionId: `${hex(solution.i)}:${hex(solution.j)}`,
        r1Counter: gen.counter,
        locatorSet: getParam(i2, 'LOCATOR_SET'),
        natMode: this.chosenNatMode(i2),
        eLocators: getParams(i2, 'E_LOCATOR'),
      },
    };
  }

  /** The I2's NAT traversal mode when it is one our R1 offered; anything else counts as none. */
  private chosenNatMode(i2: DecodedPacket): number | undefined {
    const offered = this.cfg.r1Extra?.find((p) => p.kind === 'NAT_TRAVERSAL_MODE');
    const chosen = getParam(i2, 'NAT_TRAVERSAL_MODE')?.modes[0];
    return offered?.kind === 'NAT_TRAVERSAL_MODE' && chosen !== undefined && offered.modes.includes(chosen) ? chosen : undefined;
  }

  /** HOST_ID from ENCRYPTED (or in the clear, which RFC 7401 permits when ENCRYPTED is absent). */
  private hostIdOf(i2: DecodedPacket, hipCipher: number, key: Uint8Array): HostId | undefined {
    const encrypted = getParam(i2, 'ENCRYPTED');
    if (encrypted === undefined) return getParam(i2, 'HOST_ID');
    const plain = decryptParam(this.cfg.crypto, hipCipher, key, encrypted.data);
    if (plain === null) return undefined;
    const inner = decodeParams(plain);
    if (!inner.ok) return undefined;
    return getParam(inner, 'HOST_ID');
  }

  snapshot(now: number): ResponderSnapshot {
    const gen = this.generations[this.generations.length - 1]!;
    return { ...this.load.snapshot(now), r1Counter: gen.counter, generations: this.generations.length };
  }
}
