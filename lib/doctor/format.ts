/** `doctor`'s report as terminal text or Markdown: the same sections, the same facts. */
import type { DoctorReport } from "./doctor.ts";

/** A titled block: lines, then an optional table. */
interface _Section {
  title: string;
  lines: string[];
  table?: { head: string[]; rows: string[][] };
}

/**
 * @param r a report
 * @returns plain text for a terminal
 */
export function doctorText(r: DoctorReport): string {
  return _sections(r).map((s) => {
    const body = s.lines.map((l) => `  ${l}`);
    if (s.table) body.push(..._aligned([s.table.head, ...s.table.rows]).map((l) => `  ${l}`));
    return [s.title, ...body].join("\n");
  }).join("\n\n") + "\n";
}

/**
 * @param r a report
 * @returns Markdown: a heading per section, lists and tables
 */
export function doctorMarkdown(r: DoctorReport): string {
  const parts = ["# vitlab doctor", ""];
  for (const s of _sections(r)) {
    parts.push(`## ${s.title}`, "", ...s.lines.map((l) => `- ${l.replaceAll("|", "\\|")}`));
    if (s.lines.length) parts.push("");
    if (s.table) {
      const row = (cells: string[]) => `| ${cells.map((c) => c.replaceAll("|", "\\|")).join(" | ")} |`;
      parts.push(row(s.table.head), row(s.table.head.map(() => "---")), ...s.table.rows.map(row), "");
    }
  }
  return parts.join("\n");
}

function _sections(r: DoctorReport): _Section[] {
  const rt = r.runtime;
  return [
    {
      title: "Runtime",
      lines: [
        `Deno ${rt.deno} (V8 ${rt.v8}, TypeScript ${rt.typescript}), ${rt.os}`,
        `${rt.cpu}, ${rt.cores} cores, ${rt.memory_gib} GiB`,
        `TensorFlow.js ${rt.tfjs}`,
      ],
    },
    {
      title: "Backends",
      lines: [],
      table: {
        head: ["backend", "loads", "device, or why not", "fix"],
        rows: r.backends.map((b) => [b.backend, b.loads ? "yes" : "no", b.device ?? b.reason ?? "", b.fix ?? ""]),
      },
    },
    _webgpuSection(r),
    {
      title: "TensorFlow bindings",
      lines: r.tensorflow.map((t) =>
        `${t.backend} (${t.package}): ${
          !t.installed
            ? "package not installed"
            : t.binding
            ? `binding at ${t.binding}`
            : "package installed, no binding"
        }`
      ),
    },
    {
      title: "OpenBLAS",
      lines: [
        r.openblas.present
          ? `${r.openblas.config}; ${r.openblas.threads} thread${
            r.openblas.threads === 1 ? "" : "s"
          }; ${r.openblas.core} kernels${r.openblas.forced ? ` (OPENBLAS_CORETYPE=${r.openblas.forced})` : ""}`
          : `not loaded: ${r.openblas.reason}; fix: ${r.openblas.fix}`,
        ...(r.openblas.hint ? [`advice: ${r.openblas.hint}`] : []),
      ],
    },
    ..._benchSections(r),
  ];
}

function _webgpuSection(r: DoctorReport): _Section {
  const w = r.webgpu;
  const lines = [`Vulkan drivers: ${w.vulkanDrivers.length ? w.vulkanDrivers.join(", ") : "none"}`];
  if (w.reason) lines.push(`no adapter: ${w.reason}; fix: ${w.fix}`);
  for (const a of w.adapters) {
    const kind = a.software ? "software" : "hardware";
    lines.push(
      `${a.name}: ${kind}, isFallbackAdapter ${a.isFallbackAdapter ?? "unreported"} (asked as ${a.via.join(", ")})`,
      `limits: ${Object.entries(a.limits).map(([k, v]) => `${k} ${v}`).join(", ")}`,
      `features: ${a.features.join(", ") || "none"}`,
    );
  }
  return { title: "WebGPU adapters", lines };
}

function _benchSections(r: DoctorReport): _Section[] {
  const out: _Section[] = [];
  const s = r.benchSetup;
  if (s) {
    const n = (x: number | undefined, d = 1) =>
      x === undefined ? "–" : x.toLocaleString("en-US", { maximumFractionDigits: d });
    out.push({
      title: "Training bench",
      lines: [`${s.config} at batch ${s.batch}: ${s.warmup} warm-up + ${s.steps} timed steps (median) per backend`],
      table: {
        head: ["backend", "images/s", "ms/step", "kernels/step", "µs/kernel", "GPU dispatches/step"],
        rows: r.bench.map((b) =>
          b.error !== undefined ? [b.backend, `failed: ${b.error}`, "", "", "", ""] : [
            b.backend,
            n(b.images_per_second),
            n(b.ms_per_step),
            n(b.kernels_per_step, 0),
            n(b.us_per_kernel),
            n(b.dispatches_per_step, 0),
          ]
        ),
      },
    });
  }
  if (r.opChain.length) {
    out.push({
      title: "WebGPU dispatch cost",
      lines: r.opChain.map((c) =>
        `2,000-add chain, ${c.batch === 1 ? "a submit per op" : `${c.batch} ops per submit`}: ${c.us_per_op} µs/op` +
        (c.correct ? "" : " (WRONG values read back)")
      ),
    });
  }
  return out;
}

/** Pads each column to its widest cell. */
function _aligned(rows: string[][]): string[] {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? "").length)));
  return rows.map((r) => r.map((c, i) => c.padEnd(widths[i]!)).join("  ").trimEnd());
}
