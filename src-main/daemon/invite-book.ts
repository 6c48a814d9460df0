// The invites of one state dir, in DIR/invites.json (0600): those this host issued and waits on
// (the key derived from the secret, expiry, the name the invitee will get) and those it holds
// from other hosts (the inviter's HIT and key, for the proof in our I2). It answers the Host's
// invite hooks; a redeemed invite is marked spent at once, so it works once.

import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { hitToText } from '../hip/wire/address.js';
import { inviteKey, inviteProof, sameProof, type InviteHooks } from '../hip/invite-proof.js';
import { readJsonFile, writeJsonAtomic, SerialQueue } from '../platform/state-file.js';
import { INVITE_SECRET_LENGTH, decodeInvite, encodeInvite, type InviteRelay } from './invite-text.js';
import type { Endpoint, PeerConfig } from '../../src-shared/control-api.js';

export const DEFAULT_INVITE_SECONDS = 24 * 3600;
/**
 * A spent or expired invite is kept this long after its expiry, so a late use of it still gets
 * an R1 and its proof is refused and counted as `invite-refused` rather than vanishing as a
 * plain policy drop.
 */
const KEEP_AFTER_EXPIRY_SECONDS = 24 * 3600;

interface Pending { key: string; name: string; expiresAt: number; usedAt?: number }
interface Held { hit: string; key: string; expiresAt: number }
interface InviteFile { version: 1; pending: Pending[]; held: Held[] }

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const unhex = (s: string): Uint8Array => Uint8Array.from(Buffer.from(s, 'hex'));
const nowSeconds = (): number => Math.floor(Date.now() / 1000);

function isEntry(x: unknown, fields: string[]): boolean {
  return typeof x === 'object' && x !== null && fields.every((f) => f in x);
}

export class InviteBook {
  private readonly queue = new SerialQueue();
  proofs = 0;
  refused = 0;

  private constructor(readonly path: string, private pending: Pending[], private held: Held[]) {}

  static async open(stateDirRoot: string): Promise<InviteBook> {
    const path = join(stateDirRoot, 'invites.json');
    const read = await readJsonFile(path);
    const file = read.kind === 'json' ? read.value as Partial<InviteFile> : {};
    const pending = Array.isArray(file.pending) ? file.pending.filter((p) => isEntry(p, ['key', 'name', 'expiresAt'])) : [];
    const held = Array.isArray(file.held) ? file.held.filter((h) => isEntry(h, ['hit', 'key', 'expiresAt'])) : [];
    return new InviteBook(path, pending, held);
  }

  private save(): Promise<void> {
    const now = nowSeconds();
    // Expired held invites are of no use; expired pending ones stay until a use is refused and counted.
    this.held = this.held.filter((h) => h.expiresAt > now);
    this.pending = this.pending.filter((p) => p.expiresAt + KEEP_AFTER_EXPIRY_SECONDS > now);
    const file: InviteFile = { version: 1, pending: this.pending, held: this.held };
    return this.queue.run(() => writeJsonAtomic(this.path, file));
  }

  /** A new invite to this host: the text to hand over. */
  async create(opts: { hit: string; name: string; inviteeName: string; locators: Endpoint[]; relay?: InviteRelay; expiresSeconds?: number }): Promise<{ text: string; expiresAt: number }> {
    const secret = Uint8Array.from(randomBytes(INVITE_SECRET_LENGTH));
    const expiresAt = nowSeconds() + (opts.expiresSeconds ?? DEFAULT_INVITE_SECONDS);
    this.pending.push({ key: hex(inviteKey(secret)), name: opts.inviteeName, expiresAt });
    await this.save();
    return { text: encodeInvite({ hit: opts.hit, name: opts.name, locators: opts.locators, ...(opts.relay ? { relay: opts.relay } : {}), secret, expiresAt }), expiresAt };
  }

  /** Keeps an invite from another host; returns that host as a peer to add. */
  async accept(text: string, name?: string): Promise<PeerConfig> {
    const inv = decodeInvite(text);
    if (!inv.ok) throw new Error(inv.error);
    if (inv.value.expiresAt <= nowSeconds()) throw new Error(`this invite expired at ${new Date(inv.value.expiresAt * 1000).toISOString()}; ask for a new one`);
    this.held = this.held.filter((h) => h.hit !== inv.value.hit);
    this.held.push({ hit: inv.value.hit, key: hex(inviteKey(inv.value.secret)), expiresAt: inv.value.expiresAt });
    await this.save();
    const relay = inv.value.relay;
    return { name: name ?? inv.value.name, hit: inv.value.hit, locators: inv.value.locators, ...(relay ? { relay: { hit: relay.hit, address: relay.address, port: relay.port } } : {}) };
  }

  pendingCount(): number {
    const now = nowSeconds();
    return this.pending.filter((p) => p.usedAt === undefined && p.expiresAt > now).length;
  }

  /** The unspent, unexpired invite this proof is for. */
  private match(localHit: Uint8Array, peerHit: Uint8Array, proof: Uint8Array): Pending | undefined {
    const now = nowSeconds();
    return this.pending.find((p) => p.usedAt === undefined && p.expiresAt > now && sameProof(inviteProof(unhex(p.key), peerHit, localHit), proof));
  }

  /** The Host's hooks; `admit` adds the invitee as a peer under the invite's name. */
  hooks(admit: (peer: PeerConfig) => void): InviteHooks {
    return {
      proofFor: (localHit, peerHit) => {
        const text = hitToText(peerHit);
        const h = this.held.find((x) => x.hit === text && x.expiresAt > nowSeconds());
        return h === undefined ? undefined : inviteProof(unhex(h.key), localHit, peerHit);
      },
      pending: () => this.pending.some((p) => p.expiresAt + KEEP_AFTER_EXPIRY_SECONDS > nowSeconds()),
      check: (localHit, peerHit, proof) => {
        if (this.match(localHit, peerHit, proof) !== undefined) return true;
        this.refused++;
        return false;
      },
      redeem: (localHit, peerHit, proof) => {
        const used = this.match(localHit, peerHit, proof);
        if (used === undefined) return;
        used.usedAt = nowSeconds();
        this.proofs++;
        void this.save();
        admit({ name: used.name, hit: hitToText(peerHit), locators: [] });
      },
    };
  }
}

/** A name for an invitee when the inviter gives none. */
export function defaultInviteeName(): string {
  return `guest-${randomBytes(3).toString('hex')}`;
}

