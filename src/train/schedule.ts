// Learning-rate schedules of the training loop.
import { PromptkilnError } from '../errors.js';

export type Schedule = 'constant' | 'linear' | 'cosine';
export const SCHEDULES: readonly Schedule[] = ['constant', 'linear', 'cosine'];

// Linear warm-up to the peak, then constant, linear or cosine decay to 0 at totalSteps.
export function learningRate(step: number, o: { lr: number; warmup?: number; totalSteps: number; schedule?: Schedule }): number {
  const w = o.warmup ?? 0;
  if (w > 0 && step < w) return (o.lr * (step + 1)) / w;
  const sched = o.schedule ?? 'constant';
  if (sched === 'constant' || o.totalSteps <= w) return o.lr;
  const t = Math.min(1, (step - w) / Math.max(1, o.totalSteps - w));
  return sched === 'linear' ? o.lr * (1 - t) : o.lr * 0.5 * (1 + Math.cos(Math.PI * t));
}

export function checkSchedule(s: string, what: string): Schedule {
  if (!(SCHEDULES as readonly string[]).includes(s)) throw new PromptkilnError('ARGUMENT', `${what}: schedule must be cosine, linear or constant, got "${s}"`);
  return s as Schedule;
}
