/**
 * The watchdog of signals.ts, on its own thread: after a later stopping signal, if the main
 * thread (busy in a long step) has not exited within a second, end the process.
 */
import { REPEAT_WINDOW_MS } from "./signals.ts";

const GRACE_MS = 1000;
let first = 0;
for (const sig of ["SIGINT", "SIGTERM", "SIGHUP"] as const) {
  try {
    Deno.addSignalListener(sig, () => {
      const now = performance.now();
      if (first === 0) first = now;
      else if (now - first >= REPEAT_WINDOW_MS) {
        setTimeout(() => {
          Deno.stderr.writeSync(
            new TextEncoder().encode(`${sig} again: the current step is still running; killing it\n`),
          );
          Deno.kill(Deno.pid, "SIGKILL");
        }, GRACE_MS);
      }
    });
  } catch { /* this platform lacks the signal */ }
}
