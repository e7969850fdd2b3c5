import fs from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { eventPayloadDescriptorSchema, eventSchema, objectIdSchema, reportPayloadDescriptorSchema, reportRequestSchema, type OadrEvent, type ReportRequest } from './spec';
import type { ReportBookState } from './reports';

/**
 * What the VEN keeps on disk in storage.dir/openadr/state.json: its VEN and resource IDs, the
 * events in force (obeyed through a VTN outage and from the first instant after a restart, before
 * the VTN answers), when it first saw each (what a 'now' start means, kept so a restart does not
 * start a 'now' event again), the report figures gathered so far and the reports not yet accepted
 * by the VTN. Written atomically (temp file, fsync, rename) off the event loop, one write at a
 * time, so the trip path never waits for the SD card. Read back through the same schemas as the
 * VTN's replies: a damaged or edited file is set aside, never half-obeyed.
 */

export interface HeldEvent {
  event: OadrEvent;
  programName: string;
  programDescriptors?: z.infer<typeof descriptorSchema>[] | null;
  firstSeenAt: number;
}

export interface PendingReport {
  /** when it was made (wall ms) */
  madeAt: number;
  /** tries so far */
  tries: number;
  report: ReportRequest;
}

export interface VenState {
  venId?: string;
  resourceId?: string;
  events: HeldEvent[];
  pending: PendingReport[];
  reports: ReportBookState;
}

const descriptorSchema = z.union([eventPayloadDescriptorSchema, reportPayloadDescriptorSchema]);
const finiteMs = z.number().finite();
const stateSchema = z.object({
  v: z.literal(1),
  venId: objectIdSchema.optional(),
  resourceId: objectIdSchema.optional(),
  events: z.array(z.object({ event: eventSchema, programName: z.string().max(128), programDescriptors: z.array(descriptorSchema).nullish(), firstSeenAt: finiteMs })).max(10_000),
  pending: z.array(z.object({ madeAt: finiteMs, tries: z.number().int().min(0), report: reportRequestSchema })).max(10_000),
  reports: z.record(z.unknown()),
});

export const EMPTY_STATE: VenState = { events: [], pending: [], reports: {} };

export class VenStore {
  readonly file: string;
  private writing?: Promise<void>;
  private queued?: string;
  private last?: string;

  constructor(dataDir: string) {
    this.file = path.join(dataDir, 'openadr', 'state.json');
  }

  /**
   * The state kept at the last stop, or the empty state: a file that is missing starts fresh; one
   * that cannot be read back whole is renamed *.bad-<ms> (for a look later) and starts fresh too.
   */
  load(now: number): { state: VenState; problem?: string } {
    let text: string;
    try {
      text = fs.readFileSync(this.file, 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return { state: structuredClone(EMPTY_STATE) };
      return { state: structuredClone(EMPTY_STATE), problem: `cannot read ${this.file}: ${(e as NodeJS.ErrnoException).code ?? e}` };
    }
    let problem: string | undefined;
    try {
      const r = stateSchema.safeParse(JSON.parse(text));
      if (r.success) {
        this.last = text;
        const { v: _v, ...state } = r.data;
        return { state: state as VenState };
      }
      problem = `${r.error.issues[0].path.join('.')}: ${r.error.issues[0].message}`;
    } catch (e) {
      problem = (e as Error).message;
    }
    const aside = `${this.file}.bad-${now}`;
    try {
      fs.renameSync(this.file, aside);
    } catch { /* left in place; overwritten by the next save */ }
    return { state: structuredClone(EMPTY_STATE), problem: `${this.file} is damaged (${problem.slice(0, 160)}); set aside as ${path.basename(aside)}` };
  }

  /** write the state (coalesced: while one write is in flight only the newest waits) */
  save(state: VenState): void {
    const text = JSON.stringify({ v: 1, ...state });
    if (text === this.last || text === this.queued) return;
    this.queued = text;
    this.writing ??= this.drain().finally(() => { this.writing = undefined; });
  }

  /** every save so far is written, or has failed into writeError (stop, tests) */
  async flush(): Promise<void> {
    while (this.writing) await this.writing;
  }

  /** the error of the last write that failed, until one succeeds (status) */
  writeError?: string;

  private async drain(): Promise<void> {
    while (this.queued !== undefined) {
      const text = this.queued;
      this.queued = undefined;
      try {
        await writeAtomic(this.file, text);
        this.last = text;
        this.writeError = undefined;
      } catch (e) {
        this.writeError = `${this.file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`;
      }
    }
  }
}

async function writeAtomic(file: string, text: string): Promise<void> {
  await fs.promises.mkdir(path.dirname(file), { recursive: true, mode: 0o750 });
  const tmp = `${file}.${process.pid}.tmp`;
  const fh = await fs.promises.open(tmp, 'w', 0o640);
  try {
    await fh.writeFile(text);
    await fh.sync();
  } finally {
    await fh.close();
  }
  await fs.promises.rename(tmp, file);
}
