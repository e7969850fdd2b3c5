import type { LoadModel } from './control/types';
import type { NetworkMiner } from './hardware';
import { minerLoad } from './loads';
import type { Logger } from './log';
import { Runner } from './runner';

/**
 * A network miner as a load: control's setting goes to the firmware as is (its own scale,
 * MinerSettings). A trip is the driver's stop(), sent at once; it resolves when the miner's API
 * has accepted it, and a refusal or no answer is said (the curtail's ack reports it).
 */
export class MinerRunner extends Runner {
  readonly model: LoadModel;

  constructor(readonly miner: NetworkMiner, log: Logger, onResult: (error: string | undefined) => void, timing?: { minOnMs: number; minOffMs: number }) {
    super(log, onResult);
    this.model = minerLoad(miner, timing);
  }

  get id(): string {
    return this.miner.id;
  }

  protected stopNow(): Promise<string | undefined> {
    return this.miner.stop().then(
      () => undefined,
      (e: Error) => `${this.miner.id}: stop not accepted (${e.message})`,
    );
  }

  protected async step(setting: number): Promise<void> {
    await this.miner.set(setting);
  }
}
