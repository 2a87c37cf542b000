/**
 * Adds one packed host array to many tensors: `tensors[i] + packed[offset_i … offset_i + size_i)`,
 * the runs back to back in the tensors' order. One fused kernel where the backend has it (wasm and
 * blas, {@linkcode ./wasm_kernels.ts}), else an upload and an `Add` per tensor.
 *
 * Why: a replica's gradients reached the training thread as ~80 arrays, each uploaded and added
 * by two engine dispatches, while the other core waits. Packed, they are one message buffer and
 * one kernel: vit-small's 80 gradients 1.04–1.43 → 0.55–1.00 ms (docs/performance.md).
 */
import * as tf from "@tensorflow/tfjs-core";

/** Kernel name of the fused add (registered for the wasm backend). */
export const ADD_PACKED_KERNEL = "VitlabAddPacked";

/**
 * @param tensors float32 tensors of any shapes
 * @param packed their addends back to back; its length is the sum of the tensors' sizes
 * @returns one new tensor per input, each rounded to float32 as `tf.add` rounds it
 * @throws {Error} when `packed` has the wrong length
 */
export function addPacked(tensors: tf.Tensor[], packed: Float32Array): tf.Tensor[] {
  const total = tensors.reduce((n, t) => n + t.size, 0);
  if (packed.length !== total) throw new Error(`packed addends have ${packed.length} values, not ${total}`);
  if (tf.getKernel(ADD_PACKED_KERNEL, tf.getBackend())) {
    const inputs = Object.fromEntries(tensors.map((t, i) => [String(i), t]));
    const attrs = { packed } as unknown as tf.NamedAttrMap;
    return tf.engine().runKernel(ADD_PACKED_KERNEL, inputs, attrs) as unknown as tf.Tensor[];
  }
  return tf.tidy(() => unpack(packed, tensors.map((t) => t.shape)).map((b, i) => tf.add(tensors[i]!, b)));
}

/**
 * Cuts a packed array into tensors of the given shapes, in order.
 * @param packed values back to back
 * @param shapes each tensor's shape
 * @returns the tensors (copies)
 */
export function unpack(packed: Float32Array, shapes: number[][]): tf.Tensor[] {
  let offset = 0;
  return shapes.map((shape) => {
    const n = shape.reduce((a, b) => a * b, 1);
    const t = tf.tensor(packed.subarray(offset, offset + n), shape, "float32");
    offset += n;
    return t;
  });
}
