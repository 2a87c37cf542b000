/** Every shipped config resolves, and opens with the comment block a user reads first. */
import assert from "node:assert/strict";
import { loadConfig } from "../lib/config/load.ts";

const dir = new URL("../configs/", import.meta.url).pathname;
const files = [...Deno.readDirSync(dir)].map((e) => e.name).filter((n) => n.endsWith(".yaml")).sort();

Deno.test("configs/ holds the documented configs", () => {
  for (const f of ["vit-small.yaml", "vit-tiny.yaml", "fashion-vit.yaml", "cifar10-vit-lite.yaml"]) {
    assert.ok(files.includes(f), f);
  }
});

for (const f of files) {
  Deno.test(`configs/${f} resolves and says what it is for, what it reaches and how to run it`, () => {
    const text = Deno.readTextFileSync(dir + f);
    const header = text.split("\n").filter((l) => l.startsWith("#")).join("\n");
    assert.match(header, /Command: +deno task exp configs\//);
    assert.match(header, /Expected|Target/);
    const config = loadConfig(dir + f, { overrides: text.includes("dataset: cifar") ? ["data.path=/data"] : [] });
    assert.equal(config.run.name, f.replace(/\.yaml$/, ""));
  });
}
