/** `index.md`: one page that shows every picture of `viz` with a line on what it shows. */
import type { VizFile } from "./figures.ts";

/** What the page says about the run. */
export interface IndexInfo {
  /** The run directory. */
  runDir: string;
  /** The checkpoint file. */
  checkpoint: string;
  /** Its epoch, when known. */
  epoch: number | null;
  /** The split's name. */
  split: string;
  /** Examples run. */
  count: number;
  /** Accuracy over them. */
  acc: number;
  /** `cls` or `mean`. */
  pool: "cls" | "mean";
}

const SECTIONS: [file: string, title: string, text: (i: IndexInfo) => string, numbers: string[]][] = [
  [
    "attention_rollout.png",
    "Attention rollout",
    (i) =>
      `Each image beside its attention rollout (Abnar & Zuidema 2020): heads averaged, the residual added as an identity, rows renormalised and the layers multiplied through; the map is the ${
        i.pool === "cls" ? "class token's row" : "mean of the patch tokens' rows (the model pools by mean)"
      } over the patches, brightest where the prediction draws most from. Below each: the true class and the prediction with its confidence (green right, red wrong).`,
    ["attention_rollout.csv"],
  ],
  [
    "attention_heads.png",
    "Attention of each head in the last block",
    (i) =>
      `For the same images, what each head of the last block attends to from the ${
        i.pool === "cls" ? "class token" : "patch tokens on average (mean pooling)"
      }. Heads that look at different parts of the object share the work.`,
    ["attention_heads.csv"],
  ],
  [
    "attention_distance.svg",
    "Mean attention distance",
    () =>
      "How far, in pixels, each head looks from the patch that asks, by block (the ViT paper's figure 7, right): the attention-weighted distance between patch centres, over the patches and every example. Early heads that stay near are local like a convolution; late heads look across the image.",
    ["attention_distance.csv"],
  ],
  [
    "pos_embed_similarity.png",
    "Position embedding similarity",
    () =>
      "Each small map sits at one patch's place and shows the cosine similarity of that patch's learned position embedding with every patch's (figure 7, centre). A bright spot around each map's own place, and rows and columns alike, mean the embeddings learned the 2-D grid.",
    ["pos_embed_similarity.csv"],
  ],
  [
    "patch_filters.png",
    "Principal components of the patch filters",
    () =>
      "The first principal components of the patch-embedding filters with the share of variance each explains (figure 7, left): the basis the model describes a patch in, often edges and blobs.",
    ["patch_filters.csv"],
  ],
  [
    "confusion.png",
    "Confusion matrix",
    () =>
      "Rows are the true classes, columns the predictions; colour is the share of the true class's examples, the number the count. Off-diagonal bright cells are the pairs the model confuses.",
    ["confusion.csv", "per_class.csv"],
  ],
  [
    "errors.png",
    "The most confidently wrong examples",
    () => "Misclassified examples, most confident first: the true class, the prediction and its confidence.",
    ["errors.csv"],
  ],
];

/**
 * The page's Markdown, with relative links so it reads on GitHub or in any viewer.
 * @param info the run, checkpoint, split and accuracy
 * @param files the files written, with the pictures' sizes
 * @returns Markdown text
 * @example
 * ```ts
 * import { indexMarkdown } from "./index_md.ts";
 * const md = indexMarkdown(
 *   { runDir: "runs/x/1", checkpoint: "best.safetensors", epoch: 3, split: "val", count: 10, acc: 0.9, pool: "cls" },
 *   [{ name: "confusion.png", width: 400, height: 300 }],
 * );
 * if (!md.includes("![Confusion matrix](confusion.png)") || md.includes("errors.png")) throw new Error("wrong");
 * ```
 */
export function indexMarkdown(info: IndexInfo, files: readonly VizFile[]): string {
  const byName = new Map(files.map((f) => [f.name, f]));
  const epoch = info.epoch === null ? "" : ` (epoch ${info.epoch})`;
  const lines = [
    `# What the model learned: ${info.runDir}`,
    "",
    `Checkpoint \`${info.checkpoint}\`${epoch}, split \`${info.split}\`: accuracy ${
      info.acc.toFixed(4)
    } over ${info.count} examples. Drawn by \`deno task viz\`; the numbers behind each picture are in the CSV files named under it.`,
    "",
  ];
  for (const [file, title, text, numbers] of SECTIONS) {
    const f = byName.get(file);
    if (f === undefined) continue;
    const size = f.width !== undefined ? ` (${f.width}×${f.height} pixels)` : "";
    lines.push(`## ${title}`, "", `![${title}](${file})`, "", text(info), "");
    lines.push(`Numbers: ${numbers.map((n) => `[${n}](${n})`).join(", ")}${size}.`, "");
  }
  return lines.join("\n");
}
