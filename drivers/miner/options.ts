/** The firmware families the agent drives (config `miners[].driver`; `auto` identifies one at start). */
export type MinerDriver = 'antminer' | 'whatsminer' | 'avalon' | 'luxos' | 'braiins' | 'vnish';

/** One configured miner, as the driver gets it (DESIGN.md §7; secrets already read from their files). */
export interface MinerOptions {
  id: string;
  host: string;
  /** `auto`: identified at start (drivers/miner/auto.ts), then driven by that family's driver */
  driver: MinerDriver | 'auto';
  /** only where config overrides the firmware's own (api 4028, web 80, v3 4433, grpc 50051) */
  ports: { api?: number; web?: number; v3?: number; grpc?: number };
  username?: string;
  /** the firmware's default where absent */
  password?: string;
  /** nameplate kW, for firmware that reports no power (stock Antminer) */
  ratedKw?: number;
  /** status poll period (ms) */
  pollMs: number;
  /** one request's timeout (ms): connect to last byte */
  timeoutMs: number;
}

export const MINER_DEFAULTS = { pollMs: 5000, timeoutMs: 2000 } as const;
