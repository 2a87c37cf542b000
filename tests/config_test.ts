import assert from "node:assert/strict";
import { join } from "node:path";
import { configFromObject, loadConfig } from "../lib/config/load.ts";
import { configToYaml } from "../lib/config/dump.ts";
import { configHash } from "../lib/config/hash.ts";
import { defaultConfig, SCHEMA } from "../lib/config/schema.ts";
import { ConfigError } from "../lib/errors.ts";
import { tempDir } from "./_helpers.ts";

function write(dir: string, name: string, text: string): string {
  const p = join(dir, name);
  Deno.writeTextFileSync(p, text);
  return p;
}

Deno.test("defaults resolve and take MNIST's shape", () => {
  const c = configFromObject({});
  assert.equal(c.data.image_size, 28);
  assert.equal(c.data.channels, 1);
  assert.equal(c.data.num_classes, 10);
  assert.deepEqual(c.data.mean, [0.1307]);
  assert.deepEqual(c.data.std, [0.3081]);
});

Deno.test("file, extends and --set layer in order; run.name defaults to the file name", () => {
  const dir = tempDir();
  write(dir, "base.yaml", "model:\n  depth: 3\n  heads: 2\ntrain:\n  lr: 0.01\n");
  const child = write(dir, "child.yaml", "extends: base.yaml\nmodel:\n  depth: 5\n");
  const c = loadConfig(child, { overrides: ["train.lr=5e-4", "run.tags=[a, b]"] });
  assert.equal(c.model.depth, 5); // child over base
  assert.equal(c.model.heads, 2); // from base
  assert.equal(c.train.lr, 5e-4); // --set over both
  assert.deepEqual(c.run.tags, ["a", "b"]);
  assert.equal(c.run.name, "child");
  assert.equal(c.model.d_model, defaultConfig().model.d_model);
});

Deno.test("a dumped config loads back to the same config and hash", () => {
  const dir = tempDir();
  const c = configFromObject({ model: { depth: 2 }, run: { name: "x" } });
  const p = write(dir, "resolved.yaml", configToYaml(c, ["header"]));
  const back = loadConfig(p);
  assert.deepEqual(back, c);
  assert.equal(configHash(back), configHash(c));
  assert.notEqual(configHash(configFromObject({ model: { depth: 3 } })), configHash(c));
});

/** Bad inputs: the file's text (or overrides) and words the one-line message must hold. */
const BAD: { name: string; yaml: string; set?: string[]; words: string[] }[] = [
  { name: "YAML syntax error", yaml: "model:\n  depth: [1, 2\n", words: ["bad.yaml:", "YAML syntax error"] },
  { name: "tab indentation", yaml: "model:\n\tdepth: 2\n", words: ["bad.yaml:2:", "YAML syntax error"] },
  { name: "duplicate key", yaml: "model:\n  depth: 2\n  depth: 3\n", words: ["bad.yaml:", "YAML"] },
  { name: "unknown section", yaml: "modle:\n  depth: 2\n", words: ["unknown section 'modle'", "did you mean 'model'"] },
  {
    name: "unknown key",
    yaml: "model:\n  dpth: 2\n",
    words: ["bad.yaml:2:", "unknown key 'model.dpth'", "did you mean 'model.depth'"],
  },
  { name: "wrong type", yaml: "model:\n  depth: six\n", words: ["bad.yaml:2:10", "model.depth", "integer", "'six'"] },
  { name: "float for int", yaml: "model:\n  depth: 2.5\n", words: ["model.depth", "integer", "2.5"] },
  { name: "zero size", yaml: "model:\n  d_model: 0\n", words: ["model.d_model", "≥ 1", "got 0"] },
  { name: "negative lr", yaml: "train:\n  lr: -1\n", words: ["train.lr", "> 0"] },
  {
    name: "bad enum",
    yaml: "train:\n  optimizer: adamx\n",
    words: ["train.optimizer", "adamw, adam, sgd", "did you mean 'adamw'"],
  },
  { name: "bool as string", yaml: "model:\n  qkv_bias: yes\n", words: ["model.qkv_bias", "true or false"] },
  { name: "section not a mapping", yaml: "model: 3\n", words: ["model", "expected a mapping"] },
  { name: "top level not a mapping", yaml: "- 1\n- 2\n", words: ["expected a mapping of sections"] },
  {
    name: "image not divisible by patch",
    yaml: "model:\n  patch_size: 5\n",
    words: ["image size (28)", "patch size (5)"],
  },
  {
    name: "d_model not divisible by heads",
    yaml: "model:\n  d_model: 30\n  heads: 4\n",
    words: ["d_model (30)", "heads (4)"],
  },
  { name: "mnist resized", yaml: "data:\n  image_size: 32\n", words: ["data.image_size", "28×28", "got 32"] },
  { name: "mean length", yaml: "data:\n  mean: [0.1, 0.2]\n", words: ["data.mean", "expected 1 value"] },
  { name: "betas length", yaml: "train:\n  betas: [0.9]\n", words: ["train.betas", "list of 2 numbers"] },
  {
    name: "min_lr above lr",
    yaml: "train:\n  lr: 1.0e-4\n  min_lr: 1.0e-3\n",
    words: ["train.min_lr", "must not exceed"],
  },
  { name: "warmup longer than training", yaml: "train:\n  epochs: 2\n  warmup_epochs: 3\n", words: ["warmup_epochs"] },
  { name: "bad extends", yaml: "extends: 3\n", words: ["extends", "file path"] },
  { name: "missing extends target", yaml: "extends: nowhere.yaml\n", words: ["nowhere.yaml", "no such file"] },
  { name: "--set without =", yaml: "", set: ["model.depth"], words: ["--set model.depth", "key.path=value"] },
  {
    name: "--set unknown key",
    yaml: "",
    set: ["model.deep=3"],
    words: ["--set model.deep=3", "unknown key", "model.depth"],
  },
  { name: "--set too deep", yaml: "", set: ["model.a.b=3"], words: ["section.key"] },
  { name: "--set wrong type", yaml: "", set: ["train.epochs=many"], words: ["train.epochs", "integer", "'many'"] },
  { name: "--set bad YAML", yaml: "", set: ["run.tags=[a"], words: ["--set run.tags=[a", "not valid YAML"] },
];

for (const bad of BAD) {
  Deno.test(`config error: ${bad.name}`, () => {
    const dir = tempDir();
    const p = write(dir, "bad.yaml", bad.yaml);
    assert.throws(() => loadConfig(p, { overrides: bad.set ?? [] }), (e: unknown) => {
      assert.ok(e instanceof ConfigError, `expected a ConfigError, got ${e}`);
      assert.equal(e.exitCode, 2);
      assert.equal(e.message.includes("\n"), false, `one line: ${e.message}`);
      for (const w of bad.words) {
        assert.ok(e.message.includes(w), `${JSON.stringify(e.message)} lacks ${JSON.stringify(w)}`);
      }
      return true;
    });
  });
}

Deno.test("config error: missing file and extends cycle", () => {
  const dir = tempDir();
  assert.throws(() => loadConfig(join(dir, "none.yaml")), /none\.yaml: cannot read config file \(no such file\)/);
  write(dir, "a.yaml", "extends: b.yaml\n");
  write(dir, "b.yaml", "extends: a.yaml\n");
  assert.throws(() => loadConfig(join(dir, "a.yaml")), /extends' forms a cycle/);
});

Deno.test("every schema key has a why-comment", () => {
  for (const [section, fields] of Object.entries(SCHEMA)) {
    for (const [key, spec] of Object.entries(fields)) {
      assert.ok((spec as { doc: string }).doc.length > 10, `${section}.${key} lacks a doc`);
    }
  }
});
