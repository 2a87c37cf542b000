/**
 * The README and docs/ say what the code does: the key reference is the schema's, config snippets
 * are the shipped files, every shipped config and docs page is linked, and links resolve.
 */
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { keysMarkdown, keysTableOf, normaliseTable, withKeysTable } from "../lib/config/describe.ts";
import { SCHEMA } from "../lib/config/schema.ts";
import { PROJECT_ROOT, vitlab } from "./_helpers.ts";

const read = (path: string) => Deno.readTextFileSync(join(PROJECT_ROOT, path));
const README = read("README.md");
const PAGES = [...Deno.readDirSync(join(PROJECT_ROOT, "docs"))].map((e) => e.name).filter((n) => n.endsWith(".md"))
  .sort();
const CONFIGS = [...Deno.readDirSync(join(PROJECT_ROOT, "configs"))].map((e) => e.name)
  .filter((n) => n.endsWith(".yaml")).sort();

Deno.test("docs/configuration.md's key table is the schema's (regenerate: deno task vitlab keys --write)", () => {
  const table = keysTableOf(read("docs/configuration.md"));
  assert.ok(table, "docs/configuration.md lacks the keys markers");
  assert.deepEqual(
    table,
    normaliseTable(keysMarkdown()),
    "the key table drifted from lib/config/schema.ts: run deno task vitlab keys --write docs/configuration.md && deno fmt docs/",
  );
  // Every key of the schema is a row of it, the "|" in a cell escaped (data.dataset's doc has one).
  const keys = Object.entries(SCHEMA).flatMap(([s, f]) => Object.keys(f).map((k) => `${s}.${k}`));
  assert.equal(table.length - 1, keys.length);
  assert.ok(table.some((r) => r.includes("train/<class>/*.png\\|jpg") && r.endsWith("smoke runs).|")));
});

Deno.test("the drift check fails on a stale table and passes once it is regenerated", () => {
  const page = read("docs/configuration.md");
  // A schema with one more key than the page: the page's table is short of a row.
  const stale = page.replace(/^\| `run\.prefetch`.*\n/m, "");
  assert.notEqual(stale, page);
  assert.notDeepEqual(keysTableOf(stale), normaliseTable(keysMarkdown()));
  assert.deepEqual(keysTableOf(withKeysTable(stale)), normaliseTable(keysMarkdown()));
  // A changed default is caught too.
  const changed = page.replace(/^(\| `model\.depth` +\| integer +\| )6 /m, "$18 ");
  assert.notEqual(changed, page);
  assert.notDeepEqual(keysTableOf(changed), normaliseTable(keysMarkdown()));
});

Deno.test("the README is a front page: at most 200 lines, linking every docs page", () => {
  const lines = README.split("\n").length;
  assert.ok(lines <= 200, `README.md has ${lines} lines`);
  for (
    const page of [
      "configuration.md",
      "run-directory.md",
      "backends.md",
      "reproducibility.md",
      "performance.md",
      "results.md",
      "compare-and-sweeps.md",
      "troubleshooting.md",
    ]
  ) assert.ok(PAGES.includes(page), `docs/${page} is missing`);
  for (const page of PAGES) assert.ok(README.includes(`](docs/${page})`), `README does not link docs/${page}`);
});

Deno.test("the README's config table lists every shipped config", () => {
  for (const f of CONFIGS) assert.match(README, new RegExp(`^\\| \`configs/${f.replace(".", "\\.")}\``, "m"), f);
});

Deno.test("a YAML snippet that names a shipped config is that file (its header comment aside)", () => {
  let checked = 0;
  for (const [name, text] of [["README.md", README], ...PAGES.map((p) => [`docs/${p}`, read(`docs/${p}`)])]) {
    for (const block of text!.matchAll(/```yaml\n# (configs\/[\w.-]+\.yaml)[^\n]*\n([\s\S]*?)```/g)) {
      const body = read(block[1]!).split("\n").filter((l) => !l.startsWith("#")).join("\n").trim();
      assert.equal(block[2]!.trim(), body, `${name}: the snippet of ${block[1]} differs from the file`);
      checked++;
    }
  }
  assert.ok(checked >= 2, `only ${checked} config snippets found`);
});

Deno.test("relative links in the README and docs/ point at files that exist", () => {
  for (const [name, text] of [["README.md", README], ...PAGES.map((p) => [`docs/${p}`, read(`docs/${p}`)])]) {
    for (const m of text!.matchAll(/\]\(([^)#\s]+)(#[^)]*)?\)/g)) {
      const target = m[1]!;
      if (/^[a-z]+:/.test(target)) continue;
      assert.ok(
        existsSync(join(PROJECT_ROOT, dirname(name!), target)),
        `${name} links ${target}, which does not exist`,
      );
    }
  }
});

Deno.test("docs/results.md's compare tables are what compare prints for the kept run records", async () => {
  // Each table follows the command that prints it, and ends at <!-- /compare -->.
  const page = read("docs/results.md");
  const blocks = [...page.matchAll(/<!-- deno task compare (.+?) -->\n([\s\S]*?)<!-- \/compare -->/g)];
  assert.ok(blocks.length >= 1, `docs/results.md has ${blocks.length} compare tables`);
  for (const [, args, body] of blocks) {
    const r = await vitlab("compare", ...args!.split(" "), "--format", "md");
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stderr, "", `compare ${args}: warnings about the kept records`);
    assert.deepEqual(
      normaliseTable(body!),
      normaliseTable(r.stdout),
      `docs/results.md: the table after <!-- deno task compare ${args} --> is not what it prints now`,
    );
  }
});
