/** Learning-rate schedules, stepped per optimizer step (timm's t_in_epochs=False). */

/** What a schedule needs to know. */
export interface ScheduleOptions {
  kind: "cosine" | "constant";
  lr: number;
  minLr: number;
  warmupSteps: number;
  totalSteps: number;
}

/**
 * Linear warmup from lr/warmupSteps to lr, then cosine decay to minLr at the last step
 * (or constant lr).
 * @param step zero-based optimizer step
 * @param o the schedule
 * @returns the learning rate for that step
 */
export function learningRate(step: number, o: ScheduleOptions): number {
  if (step < o.warmupSteps) return (o.lr * (step + 1)) / o.warmupSteps;
  if (o.kind === "constant") return o.lr;
  const span = Math.max(1, o.totalSteps - o.warmupSteps - 1);
  const t = Math.min(1, (step - o.warmupSteps) / span);
  return o.minLr + 0.5 * (o.lr - o.minLr) * (1 + Math.cos(Math.PI * t));
}
