import { status as GrpcStatus } from '@grpc/grpc-js';
import { isHashflexError } from '../../../agent/errors';
import type { LinkCounters } from '../../../agent/hardware';
import { rpcCall, type RpcTarget } from '../rpc';
import { GrpcRefusal, type BosChannel } from './channel';
import { firmwareOf, versionSays } from './identify';
import { parseApiVersion } from './replies';

/**
 * Is the host Braiins OS+, before anything that needs the account goes to it? Asked at once:
 * braiins.bos.ApiVersionService/GetApiVersion, which BOS+ answers without a logon (bos-plus-api
 * README, "Version"), and the cgminer-style `version` on 4028, which must not name another family
 * (identify.ts versionSays) where it answers at all. Resolves with what the host is, or with why
 * it is not ours; rejects when the gRPC API cannot be reached (a link fault: try again later).
 */
export type HostVerdict = { api: string; firmware: string } | { notOurs: string };

export async function identifyHost(channel: BosChannel, cgminer: RpcTarget, counters: LinkCounters): Promise<HostVerdict> {
  const [cg, version] = await Promise.allSettled([counted(counters, rpcCall(cgminer, 'version')), channel.call('braiins.bos.ApiVersionService/GetApiVersion', {})]);
  const says = cg.status === 'fulfilled' ? versionSays(cg.value) : undefined;
  if (says !== undefined && says !== 'braiins') return { notOurs: `its 4028 API's version names ${says}` };
  if (version.status === 'rejected') {
    const e = version.reason as Error;
    if (e instanceof GrpcRefusal && e.status === GrpcStatus.UNIMPLEMENTED) return { notOurs: `it serves gRPC but not the Braiins OS+ API (${e.message})` };
    throw e;
  }
  try {
    return { api: parseApiVersion(version.value.response), firmware: cg.status === 'fulfilled' ? firmwareOf(cg.value) : 'Braiins OS+' };
  } catch (e) {
    return { notOurs: `GetApiVersion: ${(e as Error).message}` };
  }
}

/** one 4028 exchange in the link counters (the gRPC channel counts its own) */
async function counted<T>(c: LinkCounters, p: Promise<T>): Promise<T> {
  c.requests++;
  try {
    const v = await p;
    c.frames++;
    return v;
  } catch (e) {
    if (isHashflexError(e) && e.timeout) c.timeouts++;
    throw e;
  }
}
