/**
 * Signals during a run. The first SIGINT, SIGTERM or SIGHUP asks training to stop after the step
 * in progress and write its state (the run ends `interrupted`, resumable). The same signal again
 * within {@linkcode REPEAT_WINDOW_MS} is the same request delivered twice (a scheduler signals
 * every process of a job, and `deno task` passes it on once more), so it is ignored. A later one
 * exits at once: every file is written atomically, so nothing is left half-written.
 *
 * Why a watchdog worker: a signal handler on the main thread runs only between steps, and a
 * long step (a big batch on the cpu backend) can take many seconds. The worker hears the same
 * signals on its own thread; if the main thread has not exited a second after a later signal,
 * it kills the process (exit status 137).
 */
import { say } from "./progress.ts";

/** Signals closer together than this are one request. */
export const REPEAT_WINDOW_MS = 2000;

/** The signals that stop a run; SIGHUP (a closed terminal or ssh session) counts as SIGTERM. */
const SIGNALS = ["SIGINT", "SIGTERM", "SIGHUP"] as const;

/**
 * Listens for the stopping signals until the returned function is called.
 * @param controller aborted with "SIGINT" or "SIGTERM" at the first signal
 * @param clear clears the progress bar before a message
 * @returns a function that removes the listeners and ends the watchdog
 */
export function onStopSignals(controller: AbortController, clear: () => void): () => void {
  let first = 0;
  const handlers: [Deno.Signal, () => void][] = [];
  for (const sig of SIGNALS) {
    const handler = () => {
      const now = performance.now();
      if (first > 0 && now - first < REPEAT_WINDOW_MS) return;
      clear();
      if (first > 0) {
        say(`${sig} again: exiting now\n`);
        Deno.exit(sig === "SIGINT" ? 130 : 143);
      }
      first = now;
      say(`${sig}: finishing the current step and writing a checkpoint (again to exit at once)\n`);
      controller.abort(sig === "SIGINT" ? "SIGINT" : "SIGTERM");
    };
    try {
      Deno.addSignalListener(sig, handler);
      handlers.push([sig, handler]);
    } catch { /* this platform lacks the signal */ }
  }
  let watchdog: Worker | null = null;
  try {
    watchdog = new Worker(new URL("./signal_watchdog.ts", import.meta.url), { type: "module" });
  } catch { /* no worker (permissions): the main thread's handler still exits between steps */ }
  return () => {
    for (const [sig, h] of handlers) Deno.removeSignalListener(sig, h);
    watchdog?.terminate();
  };
}
