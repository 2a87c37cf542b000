/**
 * Layer-wise learning-rate decay (BEiT's, timm's `param_groups_layer_decay`): layers near the
 * input keep more of what they learnt by training slower than those near the head.
 *
 * timm's layer ids for its VisionTransformer (`group_matcher(coarse=False)`): 0 for the stem
 * (`cls_token`, `pos_embed`, `patch_embed`), i + 1 for `blocks.i`, the last block's id for `norm`
 * (timm's MATCH_PREV_GROUP), and the largest, depth + 1, for what no pattern matches (`fc_norm`,
 * `head`). A tensor of layer id l trains at lr · decay^(depth + 1 − l).
 */

/**
 * Each tensor's learning-rate multiplier under layer decay, as timm's param groups' `lr_scale`.
 * @param names the model's parameter names (timm's)
 * @param depth the number of blocks
 * @param decay train.layer_decay, in (0, 1]
 * @returns each name's lr multiplier
 * @example
 * ```ts
 * import { layerDecayScales } from "./layer_decay.ts";
 * const s = layerDecayScales(["pos_embed", "blocks.0.norm1.weight", "blocks.1.mlp.fc1.weight", "head.bias"], 2, 0.5);
 * if ([...s.values()].join() !== "0.125,0.25,0.5,1") throw new Error("wrong");
 * ```
 */
export function layerDecayScales(names: readonly string[], depth: number, decay: number): Map<string, number> {
  const layerMax = depth + 1;
  return new Map(names.map((name) => [name, decay === 1 ? 1 : decay ** (layerMax - layerId(name, depth))]));
}

/**
 * A tensor's layer in timm's layer-decay grouping of a VisionTransformer.
 * @param name a parameter's timm name
 * @param depth the number of blocks
 * @returns its layer id: 0 for the embeddings, i + 1 for block i, depth + 1 for the head
 * @example
 * ```ts
 * import { layerId } from "./layer_decay.ts";
 * const ids = ["patch_embed.proj.weight", "blocks.2.attn.qkv.bias", "norm.weight", "head.weight"].map((n) => layerId(n, 3));
 * if (ids.join() !== "0,3,3,4") throw new Error("wrong");
 * ```
 */
export function layerId(name: string, depth: number): number {
  if (/^(cls_token|reg_token|pos_embed|patch_embed)/.test(name)) return 0;
  const block = /^blocks\.(\d+)\./.exec(name);
  if (block) return Number(block[1]) + 1;
  if (/^norm/.test(name)) return depth; // timm's (99999,): grouped with the last block
  return depth + 1;
}
