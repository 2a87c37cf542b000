/** What a forward pass needs besides its input. */
import type { Rng } from "../random.ts";

/** Forward-pass state: training switches dropout and drop-path on; `rng` seeds their masks. */
export interface ForwardContext {
  /** True while training: dropout and drop-path are applied. */
  training: boolean;
  /** The `dropout` stream; required when training with any dropout or drop-path rate. */
  rng?: Rng;
}

/** Evaluation: no dropout, no drop-path. */
export const EVAL: ForwardContext = { training: false };
