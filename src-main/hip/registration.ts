// Registration (RFC 8003) as the HIP core carries it, for both ends: what a registrar is asked
// and answers, and what a requester learns from the answer. The registrar's table and policy are
// the caller's (src-main/relay); here are only the hooks and the parameters they travel in.

import { getParam, getParams } from './wire/codec.js';
import { bytes16ToIp } from './wire/address.js';
import type { DecodedPacket, Param, PeerPermission, RegFailed, RegInfo, RegRequest, RegResponse } from './wire/params.js';
import type { Endpoint } from './association.js';

/** A registrar (a relay or rendezvous server): what its R1s offer and how it answers. */
export interface RegistrarHooks {
  /** REG_INFO, signed into every R1. */
  offer(): RegInfo;
  /**
   * A REG_REQUEST in an authenticated I2 or UPDATE from `clientHit`, which came from `from` to
   * our `to`: the REG_RESPONSE / REG_FAILED / REG_FROM / RELAYED_ADDRESS parameters of the answer.
   */
  handleRequest(clientHit: Uint8Array, request: RegRequest, from: Endpoint, to: Endpoint, now: number): Param[];
  /** PEER_PERMISSION parameters in an authenticated UPDATE from a client. */
  handlePermissions?(clientHit: Uint8Array, permissions: PeerPermission[], from: Endpoint, now: number): void;
}

/** What a registrar answered, as the requester's 'registration' event carries it. */
export interface RegistrationAnswer {
  response: RegResponse | undefined;
  failed: RegFailed[];
  /** REG_FROM: where the registrar saw our request come from (our reflexive address). */
  reflexive: Endpoint | undefined;
  /** RELAYED_ADDRESS: where peers reach us through the registrar's data relay. */
  relayed: Endpoint | undefined;
}

/** The registrar's answer in an R2 or UPDATE, or undefined when it carries none. */
export function registrationAnswerIn(pkt: DecodedPacket): RegistrationAnswer | undefined {
  const response = getParam(pkt, 'REG_RESPONSE');
  const failed = getParams(pkt, 'REG_FAILED');
  if (response === undefined && failed.length === 0) return undefined;
  const from = getParam(pkt, 'REG_FROM');
  const relayed = getParam(pkt, 'RELAYED_ADDRESS');
  return {
    response,
    failed,
    reflexive: from === undefined ? undefined : { address: bytes16ToIp(from.address), port: from.port },
    relayed: relayed === undefined ? undefined : { address: bytes16ToIp(relayed.address), port: relayed.port },
  };
}

/** The registrar's side of a packet: the answer to its REG_REQUEST, and any PEER_PERMISSIONs applied. */
export function answerRegistration(
  registrar: RegistrarHooks | undefined, pkt: DecodedPacket, clientHit: Uint8Array, from: Endpoint, to: Endpoint, now: number,
): Param[] {
  if (registrar === undefined) return [];
  const permissions = getParams(pkt, 'PEER_PERMISSION');
  if (permissions.length > 0) registrar.handlePermissions?.(clientHit, permissions, from, now);
  const request = getParam(pkt, 'REG_REQUEST');
  return request === undefined ? [] : registrar.handleRequest(clientHit, request, from, to, now);
}
