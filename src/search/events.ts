// Run events: every proposal, evaluation, model call (target, proposer, judge) and selection as a
// structured record shaped like an OpenTelemetry span (trace id = the run, span id, parent span
// id, name, start/end time, attributes), streamed to onEvent and, from the CLI, to
// DIR/events.jsonl; toOtlp() turns a list of them into an OTLP/JSON export request body.
import { completeJsonl } from './jsonl.js';

export type EventName = 'run' | 'iteration' | 'proposal' | 'evaluation' | 'call' | 'selection';

export interface RunEvent {
  traceId: string; // one per run: task, strategy, seed
  spanId: string; // "run", "it3", "prop:c12", "eval:c12:3", "call:57", "sel:3"
  parentSpanId: string | null;
  name: EventName;
  start: number; // ms since the Unix epoch
  end: number;
  attributes: Record<string, string | number | boolean | null | (string | number)[]>;
}

export type EventSink = (e: RunEvent) => void;

// FNV-1a, widened to the hex lengths OTLP wants (trace 32, span 16)
function hex(s: string, len: number): string {
  let out = '';
  for (let salt = 0; out.length < len; salt++) {
    let h = 2166136261 ^ salt;
    for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 16777619) >>> 0;
    out += (h >>> 0).toString(16).padStart(8, '0');
  }
  return out.slice(0, len);
}

// OTLP/JSON (opentelemetry-proto's ExportTraceServiceRequest) for a collector or a file exporter.
export function toOtlp(events: RunEvent[], serviceName = 'promptkiln'): unknown {
  const attr = (k: string, v: RunEvent['attributes'][string]) => ({
    key: `promptkiln.${k}`,
    value: Array.isArray(v) ? { arrayValue: { values: v.map((x) => (typeof x === 'number' ? { doubleValue: x } : { stringValue: x })) } }
      : typeof v === 'number' ? { doubleValue: v } : typeof v === 'boolean' ? { boolValue: v } : { stringValue: v === null ? '' : v },
  });
  const nanos = (ms: number) => String(BigInt(Math.round(ms * 1000)) * 1000n);
  return {
    resourceSpans: [{
      resource: { attributes: [{ key: 'service.name', value: { stringValue: serviceName } }] },
      scopeSpans: [{
        scope: { name: 'promptkiln.search' },
        spans: events.map((e) => ({
          traceId: hex(e.traceId, 32), spanId: hex(e.spanId, 16), ...(e.parentSpanId ? { parentSpanId: hex(e.parentSpanId, 16) } : {}),
          name: e.name, kind: 1, startTimeUnixNano: nanos(e.start), endTimeUnixNano: nanos(e.end),
          attributes: Object.entries(e.attributes).map(([k, v]) => attr(k, v)),
        })),
      }],
    }],
  };
}

// Read an events.jsonl written during or after a run (a torn last line is skipped).
export function parseEvents(text: string, file = 'events.jsonl'): RunEvent[] {
  return completeJsonl(text, file).map((l) => l.value as RunEvent);
}

interface CandLike {
  id: string;
  parent: string | null;
  operator: string;
  instruction: string;
  demos: { id: string }[];
  iteration: number;
}
interface ResultLike {
  id: string;
  score: number | null;
  prediction?: string;
  feedback?: string;
  error?: string;
}

// What the search loop reports; times are wall-clock (events are for watching, not for replay).
export class RunEvents {
  private iterationSpan = 'it0';
  private iterationStart = Date.now();
  private iterationN = 0;
  private childrenPending = false; // spans emitted under an iteration span not yet closed
  private calls = 0;
  readonly runStart = Date.now();
  constructor(
    readonly sink: EventSink,
    readonly traceId: string,
    readonly strategy: string,
  ) {}

  private emit(name: EventName, spanId: string, parent: string | null, start: number, attributes: RunEvent['attributes']) {
    if (parent === this.iterationSpan) this.childrenPending = true;
    this.sink({ traceId: this.traceId, spanId, parentSpanId: parent, name, start, end: Date.now(), attributes: { strategy: this.strategy, ...attributes } });
  }

  call(c: { role: string; cached: boolean; usage: { promptTokens: number; completionTokens: number }; ms: number; usd: number | null }, spent: { calls: number; cost: number }) {
    const end = Date.now();
    this.emit('call', `call:${this.calls++}`, this.iterationSpan, c.cached ? end : end - c.ms, {
      role: c.role, cached: c.cached, prompt_tokens: c.usage.promptTokens, completion_tokens: c.usage.completionTokens, ms: c.ms, usd: c.usd, calls: spent.calls, cost: spent.cost,
    });
  }

  proposal(c: CandLike) {
    this.emit('proposal', `prop:${c.id}`, this.iterationSpan, Date.now(), { candidate: c.id, parent: c.parent, operator: c.operator, iteration: c.iteration, instruction: c.instruction, demos: c.demos.map((d) => d.id) });
  }

  // the evaluation's worst examples ride along, so a report can show the best's with their feedback
  evaluation(c: CandLike, r: { score: number | null; n: number; pruned: boolean; failures: number; results: ResultLike[] }, spent: { calls: number; cost: number }, examples: Map<string, { input: string; output: string }>) {
    const worst = r.results.slice().sort((a, b) => (a.score ?? -Infinity) - (b.score ?? -Infinity)).slice(0, 5);
    this.emit('evaluation', `eval:${c.id}`, this.iterationSpan, this.iterationStart, {
      candidate: c.id, parent: c.parent, operator: c.operator, iteration: c.iteration, score: r.score, n: r.n, pruned: r.pruned, failures: r.failures, calls: spent.calls, cost: spent.cost,
      worst: worst.map((x) => JSON.stringify({ id: x.id, score: x.score, input: examples.get(x.id)?.input, expected: examples.get(x.id)?.output, prediction: x.prediction, feedback: x.feedback, error: x.error })),
    });
  }

  iteration(i: number, best: { id: string; score: number | null }, pool: number, spent: { calls: number; cost: number }) {
    this.emit('selection', `sel:${i}`, this.iterationSpan, Date.now(), { iteration: i, best: best.id, score: best.score, pool, calls: spent.calls, cost: spent.cost });
    this.emit('iteration', this.iterationSpan, 'run', this.iterationStart, { iteration: i, best: best.id, score: best.score, calls: spent.calls, cost: spent.cost });
    this.iterationSpan = `it${i + 1}`;
    this.iterationN = i + 1;
    this.iterationStart = Date.now();
    this.childrenPending = false;
  }

  objectives(report: { names: string[]; points: { id: string; values: Record<string, number | null> }[]; front: string[]; winner: string; constraintsMet: boolean }) {
    this.emit('selection', 'sel:objectives', 'run', Date.now(), {
      objectives: report.names, front: report.front, winner: report.winner, constraints_met: report.constraintsMet,
      points: report.points.map((p) => JSON.stringify({ id: p.id, ...p.values })),
    });
  }

  done(r: { best: string; score: number | null; stopReason: string; calls: number; cost: number }) {
    // work after the last recorded iteration (a strategy that proposed nothing new, the
    // objectives' replay) hangs under an iteration span that never recorded: close it as partial
    if (this.childrenPending) this.emit('iteration', this.iterationSpan, 'run', this.iterationStart, { iteration: this.iterationN, partial: true });
    this.emit('run', 'run', null, this.runStart, { best: r.best, score: r.score, stop_reason: r.stopReason, calls: r.calls, cost: r.cost });
  }
}
