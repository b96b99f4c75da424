// One error type for everything a user can get wrong or the environment can refuse.
// `code` is stable (switch on it); the message names the file / field / shape involved.

export type ErrorCode =
  | 'SHAPE' // a tensor or argument has the wrong shape or size
  | 'OOM' // WASM memory could not grow (bytes requested and available are in the message)
  | 'BUILD' // no kernel build validates / instantiates on this engine
  | 'CHECKPOINT' // a model file is truncated, corrupt or inconsistent
  | 'CONFIG' // config.json missing fields or unsupported values
  | 'ARCH' // unknown architecture
  | 'TOKENIZER' // tokenizer missing or malformed
  | 'TOKEN' // token id outside the vocabulary
  | 'CONTEXT' // sequence longer than the model's context
  | 'HUB' // hub download failed / repo or file not found / offline without cache
  | 'NETWORK' // an HTTP endpoint failed after retries, or answered garbage
  | 'DATA' // a JSONL / task file is malformed
  | 'ADAPTER' // a soft-prompt / prefix / compressed file does not match the model
  | 'NAN' // a loss or gradient became NaN or Inf
  | 'BUDGET' // a model-call budget is exhausted or invalid
  | 'ABORTED' // an AbortSignal fired
  | 'ARGUMENT' // an invalid option value
  | 'BACKEND' // an inference backend (onnxruntime) failed or is unavailable
  | 'METRIC' // a metric function threw
  | 'PARSE'; // a model's answer does not parse into the task's typed output fields

// The entries (promptkiln, promptkiln/ort, the CLI; ESM and CJS) are separate bundles, each with
// its own copy of this class: `instanceof` checks a brand shared by every copy, not the prototype.
const BRAND = Symbol.for('promptkiln.PromptkilnError');

export class PromptkilnError extends Error {
  readonly code: ErrorCode;
  readonly details?: Record<string, unknown>;
  constructor(code: ErrorCode, message: string, details?: Record<string, unknown>, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'PromptkilnError';
    this.code = code;
    this.details = details;
    Object.defineProperty(this, BRAND, { value: true });
  }

  static override [Symbol.hasInstance](x: unknown): boolean {
    return typeof x === 'object' && x !== null && (x as Record<symbol, unknown>)[BRAND] === true;
  }
}

export function isPromptkilnError(e: unknown, code?: ErrorCode): e is PromptkilnError {
  return e instanceof PromptkilnError && (code === undefined || e.code === code);
}

// Throws ABORTED if the signal fired; long loops call this between units of work.
export function throwIfAborted(signal: AbortSignal | undefined, what: string): void {
  if (signal?.aborted) {
    throw new PromptkilnError('ABORTED', `${what} was aborted`, undefined, { cause: signal.reason });
  }
}
