/**
 * What discover and `driver: auto` hand each firmware family's `identify()` (every family module
 * exports one: drivers/miner/<family>/index.ts), and what a family answers when the evidence is
 * its own. The probing is drivers/miner/probe.ts; the families are asked in index.ts's order.
 */
export interface MinerEvidence {
  /** the 4028 API's `version` reply, parsed (rpc.ts parseRpcReply) */
  version?: Record<string, unknown>;
  /** the 4028 API's `devdetails` reply, parsed */
  devdetails?: Record<string, unknown>;
  /** `GET /` on the web port (80), not following redirects; header names lower-cased */
  web?: { status: number; headers: Record<string, string>; body: string };
}

export interface MinerIdentity {
  /** Bitmain, MicroBT, Canaan */
  make: string;
  model: string;
  firmware: string;
  /** the config `driver` that drives it */
  driver: string;
}

export type Identify = (evidence: MinerEvidence) => MinerIdentity | undefined;
