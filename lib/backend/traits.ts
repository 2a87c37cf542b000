/**
 * What the active backend changes in how vitlab computes, as one value chosen when the backend is
 * initialised ({@linkcode initBackend} sets it for every backend, so nothing one backend chose
 * survives the switch to another). Kernels a backend registers are tfjs's per-backend registry's
 * business; this holds the rest.
 */
import * as tf from "@tensorflow/tfjs-core";

/** The choices that differ between backends. */
export interface BackendTraits {
  /**
   * Products take transpose flags at no cost (OpenBLAS reads either layout), so gradients pass
   * flags instead of the explicit transposes that keep wasm's products on XNNPACK's fast path.
   */
  transposeFlagsFree: boolean;
}

/** What every backend gets unless it says otherwise. */
export const DEFAULT_TRAITS: Readonly<BackendTraits> = Object.freeze({ transposeFlagsFree: false });

let _active: { tfjsBackend: string; traits: Readonly<BackendTraits> } | null = null;

/**
 * Records the traits of the backend just activated. Only backend initialisation calls this.
 * @param tfjsBackend the tfjs backend's name (`wasm` for both wasm and blas)
 * @param traits its traits
 */
export function setActiveTraits(tfjsBackend: string, traits: Readonly<BackendTraits>): void {
  _active = { tfjsBackend, traits: Object.freeze({ ...traits }) };
}

/**
 * @returns the traits of tfjs's active backend; the defaults when it was activated some other way
 *   (a direct `tf.setBackend`), so one backend's choices never apply to another
 */
export function activeTraits(): Readonly<BackendTraits> {
  return _active !== null && _active.tfjsBackend === tf.getBackend() ? _active.traits : DEFAULT_TRAITS;
}
