/**
 * The catalogue of bad inputs: each row is what a user does, the exit code they must get and
 * words the one-line message must contain. Every case goes through the real CLI.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { tempDir, vitlab, writeTinyConfig } from "./_helpers.ts";

interface Case {
  name: string;
  /** Builds the arguments in a fresh temporary folder. */
  args: (dir: string) => string[] | Promise<string[]>;
  code: number;
  words: RegExp[];
}

function yaml(dir: string, text: string, name = "bad.yaml"): string {
  const p = join(dir, name);
  Deno.writeTextFileSync(p, text);
  return p;
}

/** A finished tiny run, made once and copied for cases that damage it. */
let _run: string | null = null;
async function finishedRun(dir: string): Promise<string> {
  if (_run === null) {
    const base = tempDir();
    const r = await vitlab("exp", writeTinyConfig(base), "--runs-dir", join(base, "runs"), "--set", "train.epochs=1");
    assert.equal(r.code, 0, r.stderr);
    _run = r.stdout.trim();
  }
  const copy = join(dir, "run");
  await new Deno.Command("cp", { args: ["-r", _run, copy] }).output();
  return copy;
}

const cfg = (text: string) => (d: string) => ["exp", yaml(d, text)];
/** `eval` of a copy of the finished run whose config.yaml had `from` replaced by `to`. */
const evalEdited = (from: string | RegExp, to: string) => async (d: string) => {
  const run = await finishedRun(d);
  const p = join(run, "config.yaml");
  Deno.writeTextFileSync(p, Deno.readTextFileSync(p).replace(from, to));
  return ["eval", run];
};
const set = (...pairs: string[]) => (d: string) => ["exp", writeTinyConfig(d), ...pairs.flatMap((p) => ["--set", p])];

const CASES: Case[] = [
  // Config files.
  {
    name: "missing config file",
    args: (d) => ["exp", join(d, "none.yaml")],
    code: 2,
    words: [/none\.yaml: cannot read config file \(no such file\)/],
  },
  {
    name: "config is a directory",
    args: (d) => ["exp", d],
    code: 2,
    words: [/cannot read config file \(is a directory\)/],
  },
  {
    name: "YAML syntax error",
    args: cfg("model:\n  depth: [1, 2\n"),
    code: 2,
    words: [/bad\.yaml:\d+:\d+: YAML syntax error/],
  },
  {
    name: "tab indentation",
    args: cfg("model:\n\tdepth: 2\n"),
    code: 2,
    words: [/bad\.yaml:2:\d+: YAML syntax error/],
  },
  {
    name: "duplicate key",
    args: cfg("model:\n  depth: 2\n  depth: 3\n"),
    code: 2,
    words: [/YAML syntax error/, /[Dd]uplicate|unique/],
  },
  { name: "top level is a list", args: cfg("- 1\n- 2\n"), code: 2, words: [/expected a mapping of sections/] },
  {
    name: "unknown section",
    args: cfg("modle:\n  depth: 2\n"),
    code: 2,
    words: [/unknown section 'modle'/, /did you mean 'model'/],
  },
  {
    name: "unknown key",
    args: cfg("model:\n  dpth: 2\n"),
    code: 2,
    words: [/bad\.yaml:2:\d+: unknown key 'model\.dpth'/, /did you mean 'model\.depth'/],
  },
  {
    name: "string for integer",
    args: cfg("model:\n  depth: six\n"),
    code: 2,
    words: [/bad\.yaml:2:10: model\.depth: expected an integer/, /got 'six'/],
  },
  {
    name: "fraction for integer",
    args: cfg("train:\n  batch_size: 12.5\n"),
    code: 2,
    words: [/train\.batch_size: expected an integer/, /12\.5/],
  },
  { name: "zero d_model", args: cfg("model:\n  d_model: 0\n"), code: 2, words: [/model\.d_model/, /≥ 1/, /got 0/] },
  { name: "negative depth", args: cfg("model:\n  depth: -3\n"), code: 2, words: [/model\.depth/, /got -3/] },
  { name: "zero learning rate", args: cfg("train:\n  lr: 0\n"), code: 2, words: [/train\.lr: expected a number > 0/] },
  {
    name: "negative weight decay",
    args: cfg("train:\n  weight_decay: -0.1\n"),
    code: 2,
    words: [/train\.weight_decay/, /≥ 0/],
  },
  {
    name: "unknown optimizer",
    args: cfg("train:\n  optimizer: lamb\n"),
    code: 2,
    words: [/train\.optimizer: expected one of adamw, adam, sgd, got 'lamb'/],
  },
  {
    name: "unknown pool",
    args: cfg("model:\n  pool: avg\n"),
    code: 2,
    words: [/model\.pool: expected one of cls, mean/],
  },
  {
    name: "unknown dataset",
    args: cfg("data:\n  dataset: cifar\n"),
    code: 2,
    words: [
      /data\.dataset: expected one of mnist, fashion-mnist, cifar10, cifar100, idx, folder, synthetic/,
      /did you mean 'cifar10'/,
    ],
  },
  {
    name: "yes for a boolean",
    args: cfg("model:\n  qkv_bias: yes\n"),
    code: 2,
    words: [/model\.qkv_bias: expected true or false/],
  },
  {
    name: "patch does not divide image",
    args: cfg("model:\n  patch_size: 5\n"),
    code: 2,
    words: [/image size \(28\) must be divisible by patch size \(5\)/],
  },
  {
    name: "heads do not divide d_model",
    args: cfg("model:\n  d_model: 30\n  heads: 4\n"),
    code: 2,
    words: [/d_model \(30\) must be divisible by heads \(4\)/],
  },
  {
    name: "MNIST at another size",
    args: cfg("data:\n  image_size: 32\n"),
    code: 2,
    words: [/mnist images are 28×28, got 32/],
  },
  {
    name: "MNIST with 3 channels",
    args: cfg("data:\n  channels: 3\n"),
    code: 2,
    words: [/mnist images have 1 channel/],
  },
  {
    name: "mean per channel",
    args: cfg("data:\n  mean: [0.1, 0.2]\n"),
    code: 2,
    words: [/data\.mean: expected 1 value/],
  },
  { name: "zero std", args: cfg("data:\n  std: [0]\n"), code: 2, words: [/data\.std/, /≥ 0\.000001|≥ 1e-6/] },
  {
    name: "betas of wrong length",
    args: cfg("train:\n  betas: [0.9]\n"),
    code: 2,
    words: [/train\.betas: expected a list of 2 numbers/],
  },
  {
    name: "val_fraction too large",
    args: cfg("data:\n  val_fraction: 0.95\n"),
    code: 2,
    words: [/data\.val_fraction/, /≤ 0\.9/],
  },
  {
    name: "label smoothing of 1",
    args: cfg("train:\n  label_smoothing: 1\n"),
    code: 2,
    words: [/train\.label_smoothing/],
  },
  {
    name: "min_lr above lr",
    args: cfg("train:\n  lr: 1.0e-4\n  min_lr: 1.0e-3\n"),
    code: 2,
    words: [/train\.min_lr \(0\.001\) must not exceed train\.lr/],
  },
  {
    name: "warmup longer than training",
    args: cfg("train:\n  epochs: 2\n  warmup_epochs: 5\n"),
    code: 2,
    words: [/warmup_epochs \(5\) must not exceed train\.epochs \(2\)/],
  },
  {
    name: "tags not a list",
    args: cfg("run:\n  tags: fast\n"),
    code: 2,
    words: [/run\.tags: expected a list of strings/],
  },
  {
    name: "run name with a slash",
    args: cfg("run:\n  name: a/b\n"),
    code: 2,
    words: [/run\.name 'a\/b' must not contain/],
  },
  {
    name: "extends a missing file",
    args: cfg("extends: base.yaml\n"),
    code: 2,
    words: [/base\.yaml: cannot read config file/],
  },
  {
    name: "extends cycle",
    args: (d) => (yaml(d, "extends: b.yaml\n", "a.yaml"), ["exp", yaml(d, "extends: a.yaml\n", "b.yaml")]),
    code: 2,
    words: [/'extends' forms a cycle/],
  },
  { name: "extends not a path", args: cfg("extends: [a, b]\n"), code: 2, words: [/extends: expected a file path/] },
  {
    name: "absurd size that would exhaust memory",
    args: cfg("model:\n  d_model: 16384\n  depth: 64\n  heads: 16\n"),
    code: 2,
    words: [/estimated [\d.]+ GiB to train/, /more than (this machine's|what fits the wasm backend's)/],
  },
  {
    name: "patch 2 at batch 128 overflows the wasm heap",
    args: (
      d,
    ) => [
      "exp",
      writeTinyConfig(d),
      "--backend",
      "wasm",
      "--set",
      "data.image_size=28",
      "--set",
      "model.patch_size=2",
      "--set",
      "model.d_model=64",
      "--set",
      "model.heads=4",
      "--runs-dir",
      join(d, "runs"),
      "--set",
      "model.depth=6",
      "--set",
      "train.batch_size=128",
    ],
    code: 2,
    words: [/more than what fits the wasm backend's 4 GiB heap, 1\.30 GiB/],
  },
  {
    name: "cifar10 without data.path",
    args: cfg("data:\n  dataset: cifar10\n"),
    code: 2,
    words: [/data\.path: dataset cifar10 reads its files from data\.path/, /deno task data cifar10 DIR/],
  },
  {
    name: "cifar10 at a folder without its files",
    args: (d) => ["exp", yaml(d, `data:\n  dataset: cifar10\n  path: ${d}\nmodel:\n  patch_size: 8\n`)],
    code: 1,
    words: [/data_batch_1\.bin: cannot read CIFAR file \(no such file\)/],
  },
  {
    name: "unknown augmentation key",
    args: set("augment.mixup=0.8"),
    code: 2,
    words: [/unknown key 'augment\.mixup'/, /did you mean 'augment\.mixup_alpha'/],
  },
  {
    name: "flip probability above 1",
    args: set("augment.hflip=1.5"),
    code: 2,
    words: [/augment\.hflip: expected a number ≥ 0 and ≤ 1, got 1\.5/],
  },
  // --set overrides.
  {
    name: "--set without =",
    args: set("model.depth"),
    code: 2,
    words: [/--set model\.depth: expected key\.path=value/],
  },
  {
    name: "--set unknown key",
    args: set("model.deep=3"),
    code: 2,
    words: [/unknown key 'model\.deep'/, /did you mean 'model\.depth'/],
  },
  {
    name: "--set nested too deep",
    args: set("model.a.b=3"),
    code: 2,
    words: [/expected a key of the form section\.key/],
  },
  {
    name: "--set unparsable YAML",
    args: set("run.tags=[a"),
    code: 2,
    words: [/--set run\.tags=\[a: value is not valid YAML/],
  },
  { name: "--set wrong type", args: set("train.epochs=many"), code: 2, words: [/train\.epochs: expected an integer/] },
  {
    name: "--set empty value",
    args: set("train.epochs="),
    code: 2,
    words: [/train\.epochs: expected an integer/, /got null/],
  },
  // Command line.
  { name: "unknown command", args: () => ["train"], code: 2, words: [/unknown command 'train'/] },
  { name: "no config given", args: () => ["exp"], code: 2, words: [/exactly one of a config file, --rerun/] },
  {
    name: "config and --resume together",
    args: (d) => ["exp", writeTinyConfig(d), "--resume", d],
    code: 2,
    words: [/exactly one of/],
  },
  {
    name: "unknown backend",
    args: (d) => ["exp", writeTinyConfig(d), "--backend", "tpu"],
    code: 2,
    words: [/'tpu' is invalid/],
  },
  {
    name: "unknown flag",
    args: (d) => ["exp", writeTinyConfig(d), "--lr", "3"],
    code: 2,
    words: [/unknown option '--lr'/],
  },
  {
    name: "runs dir blocked by a file",
    args: (
      d,
    ) => (Deno.writeTextFileSync(join(d, "f"), ""), ["exp", writeTinyConfig(d), "--runs-dir", join(d, "f", "runs")]),
    code: 2,
    words: [/cannot create runs directory .*f\/runs\/tiny \(ENOTDIR\)/],
  },
  {
    name: "tensorflow backend not set up",
    args: (d) => ["exp", writeTinyConfig(d), "--backend", "tensorflow"],
    code: 1,
    words: [/backend 'tensorflow': @tensorflow\/tfjs-node has no native binding .*deno task setup-cpu/],
  },
  // eval.
  {
    name: "eval of a missing directory",
    args: (d) => ["eval", join(d, "none")],
    code: 2,
    words: [/none: no such run directory/],
  },
  {
    name: "eval of a folder that is no run",
    args: (d) => ["eval", d],
    code: 2,
    words: [/not a run directory \(no config\.yaml\)/],
  },
  {
    name: "eval with a bad split",
    args: (d) => ["eval", d, "--split", "dev"],
    code: 2,
    words: [/--split: expected one of train, val, test, got 'dev'/],
  },
  {
    name: "eval with --limit 0",
    args: (d) => ["eval", d, "--limit", "0"],
    code: 2,
    words: [/--limit: expected a positive integer, got '0'/],
  },
  {
    name: "eval of an unknown checkpoint",
    args: (d) => ["eval", d, "--checkpoint", "epoch3"],
    code: 2,
    words: [/--checkpoint: expected one of best, last/],
  },
  {
    name: "eval of a truncated checkpoint",
    args: async (d) => {
      const run = await finishedRun(d);
      const p = join(run, "checkpoints/best.safetensors");
      Deno.writeFileSync(p, Deno.readFileSync(p).subarray(0, 64));
      return ["eval", run];
    },
    code: 1,
    words: [/best\.safetensors: not a readable safetensors checkpoint/],
  },
  {
    name: "eval of a checkpoint whose config.yaml was edited to another model shape",
    args: evalEdited("d_model: 16", "d_model: 32"),
    code: 1,
    words: [/best\.safetensors was trained with another config than .*config\.yaml \(model\.d_model was 16, now 32\)/],
  },
  {
    name: "eval of a run whose config.yaml is broken",
    args: async (d) => {
      const run = await finishedRun(d);
      Deno.writeTextFileSync(join(run, "config.yaml"), "model: [\n");
      return ["eval", run];
    },
    code: 2,
    words: [/config\.yaml:\d+:\d+: YAML syntax error/],
  },
  // viz.
  {
    name: "viz of a folder that is no run",
    args: (d) => ["viz", d],
    code: 2,
    words: [/not a run directory \(no config\.yaml\)/],
  },
  {
    name: "viz of a run whose best checkpoint is missing",
    args: async (d) => {
      const run = await finishedRun(d);
      Deno.removeSync(join(run, "checkpoints/best.safetensors"));
      return ["viz", run];
    },
    code: 2,
    words: [/best\.safetensors: no such checkpoint .*try --checkpoint last/],
  },
  {
    name: "viz --images 0",
    args: async (d) => ["viz", await finishedRun(d), "--images", "0"],
    code: 2,
    words: [/--images: expected a positive integer, got '0'/],
  },
  {
    name: "viz --images above the most one picture draws",
    args: async (d) => ["viz", await finishedRun(d), "--images", "65"],
    code: 2,
    words: [/--images: expected a whole number from 1 to 64, got '65'/],
  },
  {
    name: "viz --images above the split's examples",
    args: async (d) => ["viz", await finishedRun(d), "--split", "test", "--images", "30"],
    code: 2,
    words: [/--images 30: the test split has only 24 examples to draw/],
  },
  {
    name: "viz --out under a file",
    args: async (d) => {
      Deno.writeTextFileSync(join(d, "f"), "");
      return ["viz", await finishedRun(d), "--out", join(d, "f", "viz")];
    },
    code: 2,
    words: [/--out .*f\/viz: cannot write pictures there \(ENOTDIR/],
  },
  // resume.
  {
    name: "resume of a folder that is no run",
    args: (d) => ["exp", "--resume", d],
    code: 2,
    words: [/not a run directory/],
  },
  {
    name: "resume of a finished run",
    args: async (d) => ["exp", "--resume", await finishedRun(d)],
    code: 2,
    words: [/already trained 1 of 1 epochs; ask for more with --set train\.epochs=N/],
  },
  {
    name: "resume that changes the model",
    args: async (d) => ["exp", "--resume", await finishedRun(d), "--set", "model.depth=3"],
    code: 2,
    words: [/only train\.epochs, .* may change when resuming \(model\.depth was 1, now 3\)/],
  },
  {
    name: "resume with a corrupt state",
    args: async (d) => {
      const run = await finishedRun(d);
      Deno.writeTextFileSync(join(run, "checkpoints/state.safetensors"), "garbage");
      return ["exp", "--resume", run, "--set", "train.epochs=2"];
    },
    code: 1,
    words: [/state\.safetensors: not a readable safetensors checkpoint/],
  },
  {
    name: "resume with --name",
    args: async (d) => ["exp", "--resume", await finishedRun(d), "--name", "x"],
    code: 2,
    words: [/--name cannot be used with --resume/],
  },
  // Hostile files and names (issue 14).
  {
    name: "extends a FIFO (would hang reading it)",
    args: async (d) => {
      await new Deno.Command("mkfifo", { args: [join(d, "pipe.yaml")] }).output();
      return ["exp", yaml(d, "extends: pipe.yaml\n")];
    },
    code: 2,
    words: [/pipe\.yaml: cannot read config file \(not a regular file/],
  },
  {
    name: "extends /dev/zero (would grow without bound)",
    args: cfg("extends: /dev/zero\n"),
    code: 2,
    words: [/\/dev\/zero: cannot read config file \(not a regular file/],
  },
  {
    name: "a config file over 1 MiB",
    args: (d) => ["exp", yaml(d, "# " + "x".repeat(2 ** 20) + "\nmodel: {depth: 2}\n")],
    code: 2,
    words: [/bad\.yaml: config file is \d+ bytes; a config holds at most 1048576/],
  },
  {
    name: "a YAML alias bomb",
    args: cfg(
      "a: &a [x,x,x,x,x,x,x,x,x]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\nc: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\n" +
        "d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]\ne: [*d,*d,*d,*d,*d,*d,*d,*d,*d]\n",
    ),
    code: 2,
    words: [/bad\.yaml: YAML cannot be expanded: Excessive alias count/],
  },
  {
    name: "--set model.constructor",
    args: set("model.constructor=1"),
    code: 2,
    words: [/unknown key 'model\.constructor'/],
  },
  { name: "--set train.valueOf", args: set("train.valueOf=1"), code: 2, words: [/unknown key 'train\.valueOf'/] },
  {
    name: "--set run.__defineGetter__",
    args: set("run.__defineGetter__=1"),
    code: 2,
    words: [/unknown key 'run\.__defineGetter__'/],
  },
  {
    name: "a toString key in a file",
    args: cfg("model: { toString: 1 }\n"),
    code: 2,
    words: [/bad\.yaml:1:\d+: unknown key 'model\.toString'/],
  },
  {
    name: "run.name with a newline",
    args: set('run.name="a\\nb"'),
    code: 2,
    words: [/run\.name: expected one line of printable characters, not starting with '-', got "a\\nb"/],
  },
  { name: "run.name starting with -", args: set("run.name=-rf"), code: 2, words: [/run\.name: expected one line/] },
  { name: "run.name of spaces", args: set("run.name='   '"), code: 2, words: [/run\.name: expected one line/] },
  {
    name: "an MLP width that rounds to 0",
    args: set("model.mlp_ratio=1e-300"),
    code: 2,
    words: [/model\.mlp_ratio: d_model × mlp_ratio \(16 × 1e-300\) rounds to an MLP of 0 units/],
  },
  {
    name: "an evaluation batch that cannot fit",
    args: (d) => ["exp", "configs/vit-small.yaml", "--set", "train.eval_batch_size=65536", "--runs-dir", d],
    code: 2,
    words: [/train\.eval_batch_size 65536 needs an estimated [\d.]+ GiB to evaluate/],
  },
  {
    name: "eval --batch-size that cannot fit",
    args: async (d) => ["eval", await finishedRun(d), "--batch-size", "1000000"],
    code: 2,
    words: [/--batch-size 1000000 needs an estimated [\d.]+ GiB to evaluate/],
  },
  {
    name: "eval after config.yaml's seed was edited (another split)",
    args: evalEdited(/seed: 0/, "seed: 7"),
    code: 1,
    words: [/best\.safetensors was trained with another config than .*config\.yaml \(train\.seed was 0, now 7\)/],
  },
  {
    name: "--rerun of a run whose config.yaml was emptied",
    args: async (d) => {
      const run = await finishedRun(d);
      Deno.writeTextFileSync(join(run, "config.yaml"), "");
      return ["exp", "--rerun", run, "--runs-dir", d];
    },
    code: 1,
    words: [/state\.safetensors was trained with another config than .*config\.yaml \(model\./],
  },
];

Deno.test("the catalogue holds at least 40 cases", () => {
  assert.ok(CASES.length >= 40, `${CASES.length} cases`);
});

for (const c of CASES) {
  Deno.test(`bad input: ${c.name} → exit ${c.code}`, async () => {
    const dir = tempDir();
    const r = await vitlab(...await c.args(dir));
    assert.equal(r.code, c.code, `exit ${r.code}: ${r.stderr}`);
    const lines = r.stderr.trim().split("\n").filter((l) => !/^(backend|model|run directory|warning)/.test(l));
    const message = lines.at(-1) ?? "";
    for (const w of c.words) assert.match(r.stderr, w);
    assert.match(message, /^vitlab: error: |^error: /, `last line is the error: ${message}`);
    assert.doesNotMatch(r.stderr, /^\s+at /m, "no stack trace");
    assert.equal(r.stdout, "", "nothing on stdout");
  });
}
