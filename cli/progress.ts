/**
 * Progress on stderr: a live bar on a TTY (epoch, step, loss, accuracy, lr, images/s, ETA),
 * one line per epoch otherwise or with --quiet.
 */
import type { MetricsRow } from "../lib/runs/metrics.ts";
import type { StepEvent } from "../lib/train/trainer.ts";

const encoder = new TextEncoder();

/** Writes text to stderr. */
export function say(text: string): void {
  Deno.stderr.writeSync(encoder.encode(text));
}

/** @returns a duration as h:mm:ss or m:ss */
export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return "?";
  const s = Math.round(seconds);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const ss = String(s % 60).padStart(2, "0");
  return h > 0 ? `${h}:${String(m).padStart(2, "0")}:${ss}` : `${m}:${ss}`;
}

/** Renders training progress. */
export class Progress {
  readonly live: boolean;
  #last = 0;
  #drawn = false;
  #epochSecondsSum = 0;
  #epochsSeen = 0;

  /** @param quiet one line per epoch even on a TTY */
  constructor(quiet: boolean) {
    this.live = !quiet && Deno.stderr.isTerminal();
  }

  /** @param e the step that just finished */
  step(e: StepEvent): void {
    if (!this.live) return;
    const now = performance.now();
    if (now - this.#last < 100 && e.step !== e.stepsPerEpoch) return;
    this.#last = now;
    const width = 24;
    const filled = Math.round((e.step / e.stepsPerEpoch) * width);
    const bar = "█".repeat(filled) + "░".repeat(width - filled);
    const perStep = e.seconds / e.step;
    const epochLeft = (e.stepsPerEpoch - e.step) * perStep;
    const avgEpoch = this.#epochsSeen ? this.#epochSecondsSum / this.#epochsSeen : perStep * e.stepsPerEpoch;
    const eta = epochLeft + (e.epochs - e.epoch) * avgEpoch;
    const line = `epoch ${e.epoch}/${e.epochs} ${bar} ${e.step}/${e.stepsPerEpoch} loss ${e.loss.toFixed(4)} acc ${
      e.acc.toFixed(3)
    } lr ${e.lr.toExponential(2)} ${e.imagesPerSecond.toFixed(0)} img/s ETA ${formatDuration(eta)}`;
    say(`\r\x1b[2K${line}`);
    this.#drawn = true;
  }

  /**
   * @param row the epoch's metrics
   * @param epochs total epochs
   * @param best whether val_acc improved
   */
  epoch(row: MetricsRow, epochs: number, best: boolean): void {
    this.#epochSecondsSum += row.epoch_seconds;
    this.#epochsSeen++;
    if (this.#drawn) say("\r\x1b[2K");
    this.#drawn = false;
    say(
      `epoch ${row.epoch}/${epochs}  train_loss ${row.train_loss.toFixed(4)} train_acc ${
        row.train_acc.toFixed(4)
      }  val_loss ${row.val_loss.toFixed(4)} val_acc ${row.val_acc.toFixed(4)}  lr ${row.lr.toExponential(2)}  ${
        row.images_per_second.toFixed(0)
      } img/s  ${formatDuration(row.epoch_seconds)}${best ? "  *best" : ""}\n`,
    );
  }

  /** Clears a half-drawn bar before another message. */
  clear(): void {
    if (this.#drawn) say("\r\x1b[2K");
    this.#drawn = false;
  }
}
