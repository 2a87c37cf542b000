import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { data } from "../cli/data.ts";
import { loadCifar10 } from "../lib/data/cifar.ts";
import { downloadDataset, unpackTarGz } from "../lib/data/download.ts";
import { extractTar } from "../lib/data/tar.ts";
import { DataError, UsageError } from "../lib/errors.ts";
import { concatBytes, tempDir } from "./_helpers.ts";

const enc = new TextEncoder();

/** A ustar header; `prefix` is the ustar path prefix field. */
function tarHeader(name: string, size: number, type = "0", prefix = ""): Uint8Array {
  const h = new Uint8Array(512);
  const put = (s: string, off: number, len: number) => h.set(enc.encode(s).subarray(0, len), off);
  put(name, 0, 100);
  put("0000644\0", 100, 8);
  put("0000000\0", 108, 8);
  put("0000000\0", 116, 8);
  put(`${size.toString(8).padStart(11, "0")}\0`, 124, 12);
  put("00000000000\0", 136, 12);
  put("        ", 148, 8);
  put(type, 156, 1);
  put("ustar\0", 257, 6);
  put("00", 263, 2);
  put(prefix, 345, 155);
  let sum = 0;
  for (const b of h) sum += b;
  put(`${sum.toString(8).padStart(6, "0")}\0 `, 148, 8);
  return h;
}

interface Entry {
  name: string;
  data?: Uint8Array;
  type?: string;
  prefix?: string;
}

/** A tar archive of the entries, with the two-block end marker. */
function tar(entries: Entry[]): Uint8Array {
  const parts: Uint8Array[] = [];
  for (const e of entries) {
    const body = e.data ?? new Uint8Array(0);
    parts.push(tarHeader(e.name, body.length, e.type ?? "0", e.prefix ?? ""));
    const padded = new Uint8Array(Math.ceil(body.length / 512) * 512);
    padded.set(body);
    parts.push(padded);
  }
  parts.push(new Uint8Array(1024));
  return concatBytes(parts);
}

async function* chunks(bytes: Uint8Array, size: number): AsyncGenerator<Uint8Array> {
  for (let i = 0; i < bytes.length; i += size) yield bytes.subarray(i, i + size);
}

async function rejectsData(fn: () => Promise<unknown>, pattern: RegExp): Promise<void> {
  await assert.rejects(fn, (e: unknown) => {
    assert.ok(e instanceof DataError, `expected DataError, got ${e}`);
    assert.ok(!e.message.includes("\n"), "one line");
    assert.match(e.message, pattern);
    return true;
  });
}

const md5 = (b: Uint8Array) => createHash("md5").update(b).digest("hex");

/** A miniature cifar-10-binary.tar.gz: the six batch files with two records each. */
function fakeCifar10(opts: { omit?: string } = {}): Uint8Array<ArrayBuffer> {
  const files = ["data_batch_1.bin", "data_batch_2.bin", "data_batch_3.bin", "data_batch_4.bin", "data_batch_5.bin"];
  files.push("test_batch.bin");
  const entries: Entry[] = [{ name: "cifar-10-batches-bin/", type: "5" }];
  files.forEach((f, i) => {
    if (f === opts.omit) return;
    const rec = new Uint8Array(2 * 3073).fill(i + 1);
    rec[0] = i;
    rec[3073] = 9 - i;
    entries.push({ name: `cifar-10-batches-bin/${f}`, data: rec });
  });
  entries.push({ name: "cifar-10-batches-bin/batches.meta.txt", data: enc.encode("airplane\n") });
  return gzipSync(tar(entries));
}

// ---------------------------------------------------------------- tar reader

Deno.test("tar: files, folders, long names and pax paths, from chunks of any size", async () => {
  const big = Uint8Array.from({ length: 1500 }, (_, i) => i % 251);
  const long = `${"d".repeat(60)}/${"f".repeat(70)}.bin`;
  const archive = tar([
    { name: "top/", type: "5" },
    { name: "top/a.txt", data: enc.encode("hello") },
    { name: "top/empty", data: new Uint8Array(0) },
    { name: "././@LongLink", type: "L", data: enc.encode(`top/${long}\0`) },
    { name: "truncated-name", data: big },
    { name: "PaxHeader", type: "x", data: enc.encode("28 path=top/pax/renamed.bin\n") },
    { name: "short", data: enc.encode("pax") },
    { name: "c.bin", prefix: "top/nested", data: enc.encode("prefixed") },
    { name: "top/link", type: "2" },
  ]);
  for (const size of [7, 512, 100000]) {
    const dest = tempDir();
    const files = await extractTar(chunks(archive, size), dest);
    assert.deepEqual(files, ["top/a.txt", "top/empty", `top/${long}`, "top/pax/renamed.bin", "top/nested/c.bin"]);
    assert.equal(readFileSync(join(dest, "top/a.txt"), "utf8"), "hello");
    assert.equal(readFileSync(join(dest, "top/empty")).length, 0);
    assert.deepEqual(new Uint8Array(readFileSync(join(dest, "top", long))), big);
    assert.equal(readFileSync(join(dest, "top/pax/renamed.bin"), "utf8"), "pax");
    assert.equal(readFileSync(join(dest, "top/nested/c.bin"), "utf8"), "prefixed");
    assert.ok(!existsSync(join(dest, "top/link")), "links are skipped");
  }
});

Deno.test("tar: unsafe paths, bad checksums and truncation are DataErrors", async () => {
  const root = tempDir();
  const dest = join(root, "out");
  for (const name of ["../evil.txt", "/etc/evil.txt", "ok/../../evil.txt"]) {
    await rejectsData(
      () => extractTar(chunks(tar([{ name, data: enc.encode("x") }]), 512), dest, { name: "a.tar" }),
      /a\.tar: refusing unsafe path/,
    );
  }
  assert.deepEqual(readdirSync(root), ["out"]);
  assert.deepEqual(readdirSync(dest), []);
  const bad = tar([{ name: "f", data: enc.encode("x") }]);
  bad[0] = 0x41;
  await rejectsData(
    () => extractTar(chunks(bad, 512), dest, { name: "b.tar" }),
    /b\.tar: not a tar archive, or corrupt \(bad header checksum at byte 0\)/,
  );
  const cut = tar([{ name: "f", data: new Uint8Array(2000) }]).subarray(0, 1200);
  await rejectsData(
    () => extractTar(chunks(cut, 512), dest, { name: "c.tar" }),
    /c\.tar: truncated tar archive \(in 'f'\)/,
  );
});

Deno.test({
  name: "tar: reads a .tar.gz written by GNU tar (long names included; needs the tar program, as every Linux has)",
  ignore: !_hasTar(),
  async fn() {
    const src = tempDir();
    const long = `${"x".repeat(120)}.bin`;
    mkdirSync(join(src, "pkg", "sub"), { recursive: true });
    writeFileSync(join(src, "pkg", "sub", long), Uint8Array.from({ length: 3000 }, (_, i) => i % 256));
    writeFileSync(join(src, "pkg", "a.txt"), "alpha");
    const archive = join(tempDir(), "pkg.tar.gz");
    const out = new Deno.Command("tar", { args: ["-czf", archive, "-C", src, "pkg"], stderr: "piped" }).outputSync();
    assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
    const dir = tempDir();
    const phases = new Set<string>();
    const path = await unpackTarGz(archive, dir, "pkg", (phase) => phases.add(phase));
    assert.equal(path, join(dir, "pkg"));
    assert.deepEqual([...phases], ["unpack"]);
    assert.equal(readFileSync(join(path, "a.txt"), "utf8"), "alpha");
    assert.deepEqual(readFileSync(join(path, "sub", long)), readFileSync(join(src, "pkg", "sub", long)));
    assert.deepEqual(readdirSync(dir), ["pkg"], "no temporary folder left");
    await rejectsData(() => unpackTarGz(archive, dir, "other"), /pkg\.tar\.gz: the archive has no 'other' folder/);
    writeFileSync(archive, enc.encode("not gzip"));
    await rejectsData(() => unpackTarGz(archive, dir, "pkg"), /pkg\.tar\.gz: cannot unpack/);
  },
});

function _hasTar(): boolean {
  try {
    return new Deno.Command("tar", { args: ["--version"], stdout: "null", stderr: "null" }).outputSync().success;
  } catch {
    return false;
  }
}

// ---------------------------------------------------------------- downloads (in memory)

/** A fetch that serves `body` from memory, optionally failing after `failAfter` bytes. */
function memoryFetch(body: Uint8Array, opts: { status?: number; failAfter?: number } = {}) {
  const requests: string[] = [];
  const fake = (input: string | URL | Request): Promise<Response> => {
    requests.push(String(input));
    const stream = new ReadableStream<Uint8Array>({
      start(ctl) {
        const n = opts.failAfter ?? body.length;
        for (let i = 0; i < n; i += 4096) ctl.enqueue(body.slice(i, Math.min(n, i + 4096)));
        if (opts.failAfter !== undefined) ctl.error(new Error("connection reset"));
        else ctl.close();
      },
    });
    const headers = { "content-length": String(body.length) };
    return Promise.resolve(new Response(stream, { status: opts.status ?? 200, headers }));
  };
  return { fetch: fake as typeof fetch, requests };
}

Deno.test("download: checked, unpacked, reused; progress reported per phase", async () => {
  const tgz = fakeCifar10();
  const { fetch, requests } = memoryFetch(tgz);
  const dir = join(tempDir(), "data");
  const seen = new Map<string, [number, number]>();
  const folder = await downloadDataset("cifar10", dir, {
    url: "http://mirror.invalid/c.tgz",
    md5: md5(tgz),
    fetch,
    onProgress: (phase, done, total) => seen.set(phase, [done, total]),
  });
  assert.equal(folder, join(dir, "cifar-10-batches-bin"));
  assert.deepEqual(requests, ["http://mirror.invalid/c.tgz"]);
  assert.deepEqual(seen.get("download"), [tgz.length, tgz.length]);
  assert.deepEqual(seen.get("unpack"), [tgz.length, tgz.length]);
  const train = loadCifar10(dir, "train", { expectCount: null });
  assert.deepEqual(Array.from(train.labels), [0, 9, 1, 8, 2, 7, 3, 6, 4, 5]);
  assert.deepEqual(readdirSync(dir).sort(), ["cifar-10-batches-bin", "cifar-10-binary.tar.gz"]);
  // Second run: the folder is complete, nothing is fetched.
  await downloadDataset("cifar10", dir, { md5: md5(tgz), fetch });
  assert.equal(requests.length, 1);
  // Folder gone, archive kept: verified by MD5 and unpacked again without a download.
  Deno.removeSync(folder, { recursive: true });
  const phases = new Set<string>();
  await downloadDataset("cifar10", dir, { md5: md5(tgz), fetch, onProgress: (p) => phases.add(p) });
  assert.equal(requests.length, 1);
  assert.deepEqual([...phases], ["verify", "unpack"]);
  assert.ok(existsSync(join(folder, "test_batch.bin")));
});

Deno.test("download: MD5 mismatch, HTTP errors, interruptions and incomplete archives leave nothing behind", async () => {
  const tgz = fakeCifar10();
  const dir = tempDir();
  await rejectsData(
    () => downloadDataset("cifar10", dir, { url: "http://m.invalid/a", fetch: memoryFetch(tgz).fetch }),
    new RegExp(`http://m\\.invalid/a: MD5 mismatch: expected c32a1d4ab5d03f1284b67883e8d87530, got ${md5(tgz)}`),
  );
  assert.deepEqual(readdirSync(dir), []);
  await rejectsData(
    () =>
      downloadDataset("cifar10", dir, { url: "http://m.invalid/b", fetch: memoryFetch(tgz, { status: 404 }).fetch }),
    /http:\/\/m\.invalid\/b: download failed \(HTTP 404/,
  );
  await rejectsData(
    () => downloadDataset("cifar10", dir, { md5: md5(tgz), fetch: memoryFetch(tgz, { failAfter: 5000 }).fetch }),
    /cifar-10-binary\.tar\.gz: download interrupted after \d+ bytes \(connection reset\)/,
  );
  const refuse = (() => Promise.reject(new TypeError("connection refused"))) as typeof fetch;
  await rejectsData(() => downloadDataset("cifar10", dir, { fetch: refuse }), /download failed \(connection refused\)/);
  assert.deepEqual(readdirSync(dir), []);
  const partial = fakeCifar10({ omit: "data_batch_3.bin" });
  await rejectsData(
    () => downloadDataset("cifar10", dir, { md5: md5(partial), fetch: memoryFetch(partial).fetch }),
    /cifar-10-binary\.tar\.gz: the archive lacks data_batch_3\.bin/,
  );
});

Deno.test("data command: prints the folder on stdout; bad names and flags are usage errors", async () => {
  const tgz = fakeCifar10();
  const dir = tempDir();
  const printed: string[] = [];
  const log = console.log;
  console.log = (s: string) => printed.push(s);
  try {
    const { fetch } = memoryFetch(tgz);
    const real = globalThis.fetch;
    globalThis.fetch = fetch;
    try {
      await data("cifar10", dir, { url: "http://m.invalid/c", md5: md5(tgz), quiet: true });
    } finally {
      globalThis.fetch = real;
    }
  } finally {
    console.log = log;
  }
  assert.deepEqual(printed, [join(dir, "cifar-10-batches-bin")]);
  const usage = async (fn: () => Promise<void>, pattern: RegExp) =>
    await assert.rejects(fn, (e: unknown) => e instanceof UsageError && pattern.test(e.message));
  await usage(
    () => data("cifar11", dir, {}),
    /unknown dataset 'cifar11': expected one of cifar10, cifar100, fashion-mnist/,
  );
  await usage(() => data("cifar100", undefined, {}), /data cifar100: missing the folder to download into/);
  await usage(() => data("cifar10", dir, { md5: "xyz" }), /--md5: expected 32 hex digits, got 'xyz'/);
  await usage(
    () => data("fashion-mnist", dir, { url: "http://x" }),
    /--url and --md5 apply to cifar10 and cifar100 only/,
  );
});

// ---------------------------------------------------------------- downloads (local HTTP server)

const netAllowed = Deno.permissions.querySync({ name: "net", host: "127.0.0.1" }).state === "granted";
const runAllowed = Deno.permissions.querySync({ name: "run" }).state === "granted";

Deno.test({
  name:
    "local server: a real HTTP download from 127.0.0.1, with matching and mismatching MD5 (in-process, where --allow-net is granted)",
  ignore: !netAllowed,
  async fn() {
    const tgz = fakeCifar10();
    const hits: string[] = [];
    const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (req) => {
      const path = new URL(req.url).pathname;
      hits.push(path);
      return path === "/cifar-10-binary.tar.gz" ? new Response(tgz) : new Response("no", { status: 404 });
    });
    const base = `http://127.0.0.1:${server.addr.port}`;
    try {
      const dir = tempDir();
      await rejectsData(
        () => downloadDataset("cifar10", dir, { url: `${base}/cifar-10-binary.tar.gz`, md5: "0".repeat(32) }),
        /MD5 mismatch: expected 0{32}/,
      );
      assert.deepEqual(readdirSync(dir), []);
      await rejectsData(() => downloadDataset("cifar10", dir, { url: `${base}/missing` }), /HTTP 404/);
      let last = [0, 0];
      const folder = await downloadDataset("cifar10", dir, {
        url: `${base}/cifar-10-binary.tar.gz`,
        md5: md5(tgz),
        onProgress: (phase, done, total) => phase === "download" && (last = [done, total]),
      });
      assert.deepEqual(last, [tgz.length, tgz.length]);
      assert.equal(loadCifar10(folder, "test", { expectCount: 2 }).labels[1], 4);
      assert.deepEqual(hits, ["/cifar-10-binary.tar.gz", "/missing", "/cifar-10-binary.tar.gz"]);
    } finally {
      await server.shutdown();
    }
  },
});

Deno.test({
  // `deno task test` grants no network access: run the local-server test in a child that may listen on 127.0.0.1.
  name: "local server: run in a child process with --allow-net=127.0.0.1 (where this process has no --allow-net)",
  ignore: netAllowed || !runAllowed,
  async fn() {
    const out = await new Deno.Command(Deno.execPath(), {
      args: [
        "test",
        "--allow-read",
        "--allow-write",
        "--allow-env",
        "--allow-net=127.0.0.1",
        "--filter",
        "a real HTTP download",
        new URL(import.meta.url).pathname,
      ],
      env: { NO_COLOR: "1" },
      stdout: "piped",
      stderr: "piped",
    }).output();
    const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
    assert.equal(out.code, 0, text);
    assert.match(text, /1 passed/);
  },
});
