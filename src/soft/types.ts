// Shapes shared by the soft-prompt room: training examples, prompt templates, trained artifacts.
import type { KeyLayout, ModelIdentity } from '../train/index.js';
import type { LinearArtifact } from './peft-linear.js';

// One training / validation pair. Text is tokenized with the model's tokenizer; token ids are
// taken as given (checkpoints without a tokenizer).
export interface Example {
  input: string | readonly number[];
  target: string | readonly number[];
  // where it came from, for error messages ("train.jsonl:12")
  source?: string;
  // multitask prompt tuning: which task's prompt conditions this example (0-based)
  taskId?: number;
}

// A prompt template: soft(n) rows are trained, text is frozen, `input` is the example's input.
// The example's target always follows the last part.
export type TemplatePart = { soft: number } | { text: string } | { input: true };

// Where soft rows and prefixes sit, recorded in every saved file so loading never guesses.
export const CONVENTIONS = {
  // prompt tuning (PEFT): [soft rows, BOS, input, target]; soft rows at positions 0..N-1
  prompt: 'soft_rows_before_bos',
  // prefix tuning (PEFT past_key_values): no RoPE on prefix keys; token t at position P + t
  prefix: 'hf_peft',
} as const;

// The identity of the model an artifact belongs to (checked on load): one shape for every artifact.
export type { KeyLayout, ModelIdentity };

// A trained prompt-tuning (or mixed-template) artifact.
export interface SoftPromptArtifact {
  kind: 'prompt';
  rows: number; // N virtual tokens (all soft segments of the template, in order)
  data: Float32Array; // (N, C)
  template: TemplatePart[]; // [{soft: N}, {input: true}] for plain prompt tuning
  init: { type: 'RANDOM' | 'SAMPLE_VOCAB' | 'TEXT'; text: string | null };
  model: ModelIdentity;
  // P-tuning: the rows are the output of this prompt encoder (saved as PEFT P_TUNING, which holds
  // only the encoder's output rows); absent for plain prompt tuning
  encoder?: PromptEncoderConfig;
}

// PEFT's P-tuning prompt encoder settings, as adapter_config.json names them.
export interface PromptEncoderConfig {
  encoder_reparameterization_type: 'MLP' | 'LSTM';
  encoder_hidden_size: number;
  encoder_num_layers: number;
  encoder_dropout: number;
}

// A multitask prompt-tuning artifact (PEFT MULTITASK_PROMPT_TUNING): task t's prompt rows are
// shared (N, C) ⊙ (cols[t] (N, r) · rows[t] (r, C)).
export interface MultitaskArtifact {
  kind: 'multitask';
  rows: number; // N virtual tokens
  tasks: number; // T
  rank: number; // r
  shared: Float32Array; // (N, C)
  taskCols: Float32Array; // (T, N, r)
  taskRows: Float32Array; // (T, r, C)
  template: TemplatePart[];
  init: { type: 'RANDOM' | 'SAMPLE_VOCAB' | 'TEXT'; text: string | null };
  model: ModelIdentity;
}

// A trained prefix-tuning artifact, reparameterization already merged.
export interface PrefixArtifact {
  kind: 'prefix';
  P: number; // virtual tokens
  k: Float32Array[]; // per layer (P, Hkv, hd), in the model's internal key head layout
  v: Float32Array[]; // per layer (P, Hkv, hd)
  template: TemplatePart[]; // text and input parts only
  init: { type: 'RANDOM' | 'SAMPLE_VOCAB' | 'TEXT'; text: string | null };
  model: ModelIdentity;
}

export type SoftArtifact = SoftPromptArtifact | PrefixArtifact | MultitaskArtifact;

// The network's shape (C, the model's width, comes from the model).
export interface PromptEncoderDims {
  width: number; // E
  layers: number; // L blocks
  heads: number; // H (E % H = 0)
  hidden: number; // F, the blocks' MLP width
}

// A task's description: text (the model's tokenizer, BOS rule included) or token ids.
export type TaskDescription = string | readonly number[];

// A trained prompt encoder (our own file: encoder.json + encoder.safetensors).
export interface PromptEncoderArtifact {
  kind: 'encoder';
  rows: number; // N soft tokens it writes
  dims: PromptEncoderDims;
  tensors: Record<string, Float32Array>; // by file name (see PromptEncoder.named)
  tasks: TaskDescription[]; // the training tasks' descriptions: task t is tasks[t]
  template: TemplatePart[]; // the prompt layout the rows were trained in ([{soft: N}, {input: true}])
  model: ModelIdentity;
}

// Whatever tune() returns: a soft artifact, an adapter on the projections, or a prompt encoder.
export type TunedArtifact = SoftArtifact | LinearArtifact | PromptEncoderArtifact;

