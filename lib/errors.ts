/**
 * Error classes that carry the process exit code the CLI should use.
 *
 * Library code throws these; only `cli/` turns them into a message and an exit code.
 * Messages are one line, in sentence case, and name the file, key or value at fault.
 */

/** Base class for errors vitlab reports to the user without a stack trace. */
export class VitlabError extends Error {
  /** Exit code the CLI uses: 2 for usage/config errors, 1 for run failures. */
  readonly exitCode: number;
  /**
   * Creates the error; its `name` is the subclass's (`ConfigError`, ...), so stacks and logs tell them apart.
   * @param message one line, naming the file, key or value at fault
   * @param exitCode the process exit code the CLI ends with
   * @param options the underlying error as `cause`, if any
   */
  constructor(message: string, exitCode: number, options?: ErrorOptions) {
    super(message, options);
    this.name = new.target.name;
    this.exitCode = exitCode;
  }
}

/** A config file, key or value is wrong (exit code 2). */
export class ConfigError extends VitlabError {
  /**
   * Creates the error with exit code 2.
   * @param message one line, naming the file, key or value at fault
   * @param options the underlying error as `cause`, if any
   */
  constructor(message: string, options?: ErrorOptions) {
    super(message, 2, options);
  }
}

/** A command line is wrong: bad flag, missing argument, bad path given by the user (exit code 2). */
export class UsageError extends VitlabError {
  /**
   * Creates the error with exit code 2.
   * @param message one line, naming the file, key or value at fault
   * @param options the underlying error as `cause`, if any
   */
  constructor(message: string, options?: ErrorOptions) {
    super(message, 2, options);
  }
}

/** A dataset file is missing, truncated or malformed (exit code 1). */
export class DataError extends VitlabError {
  /**
   * Creates the error with exit code 1.
   * @param message one line, naming the file, key or value at fault
   * @param options the underlying error as `cause`, if any
   */
  constructor(message: string, options?: ErrorOptions) {
    super(message, 1, options);
  }
}

/** A checkpoint is unreadable or does not fit the model (exit code 1). */
export class CheckpointError extends VitlabError {
  /**
   * Creates the error with exit code 1.
   * @param message one line, naming the file, key or value at fault
   * @param options the underlying error as `cause`, if any
   */
  constructor(message: string, options?: ErrorOptions) {
    super(message, 1, options);
  }
}

/** A backend could not be initialised (exit code 1). */
export class BackendError extends VitlabError {
  /**
   * Creates the error with exit code 1.
   * @param message one line, naming the file, key or value at fault
   * @param options the underlying error as `cause`, if any
   */
  constructor(message: string, options?: ErrorOptions) {
    super(message, 1, options);
  }
}

/** Training failed at run time: divergence, I/O failure while writing the run (exit code 1). */
export class RunError extends VitlabError {
  /**
   * Creates the error with exit code 1.
   * @param message one line, naming the file, key or value at fault
   * @param options the underlying error as `cause`, if any
   */
  constructor(message: string, options?: ErrorOptions) {
    super(message, 1, options);
  }
}

/** The loss or the gradient norm stopped being finite (exit code 1). */
export class DivergedError extends RunError {
  /** One-based epoch at which it happened. */
  readonly epoch: number;
  /** One-based global step (optimizer steps since the run began) at which it happened. */
  readonly step: number;
  /**
   * Creates the error; the message names where it happened and suggests the usual remedy.
   * @param epoch one-based epoch
   * @param step one-based global step
   * @param what which value stopped being finite, e.g. `the loss is NaN`
   */
  constructor(epoch: number, step: number, what: string) {
    super(`training diverged at epoch ${epoch}, step ${step}: ${what}; lower train.lr or raise train.warmup_epochs`);
    this.epoch = epoch;
    this.step = step;
  }
}

/** Training was stopped by a signal; the run can be resumed (exit code 130 for SIGINT, 143 for SIGTERM). */
export class InterruptedError extends VitlabError {
  /** The run directory to resume. */
  readonly runDir: string;
  /**
   * Creates the error for a run that stopped cleanly and can be resumed.
   * @param message one line, saying how to resume
   * @param runDir the run directory to resume
   * @param exitCode 130 for SIGINT, 143 for SIGTERM (128 + the signal number)
   */
  constructor(message: string, runDir: string, exitCode: number) {
    super(message, exitCode);
    this.runDir = runDir;
  }
}

/**
 * Why a file could not be read or written, in the words the error messages use.
 * @param err what `readFileSync` and friends threw
 * @returns "no such file", "is a directory", or the first line of the system's message ({@linkcode firstLine})
 */
export function fileErrorReason(err: unknown): string {
  const code = (err as { code?: string }).code;
  if (code === "ENOENT") return "no such file";
  if (code === "EISDIR") return "is a directory";
  if (code === "ENOSPC") return "no space left on the device";
  if (code === "EACCES" || code === "EPERM") return "permission denied";
  if (code === "EROFS") return "read-only file system";
  if (code === "EDQUOT") return "disk quota exceeded";
  return firstLine(err);
}

/**
 * An error's message cut to its first line, so that one-line errors stay one line.
 * @param err anything thrown
 * @returns the first line of its message (or of its string form), trimmed
 */
export function firstLine(err: unknown): string {
  return (err instanceof Error ? err.message : String(err)).split("\n")[0]!.trim();
}
