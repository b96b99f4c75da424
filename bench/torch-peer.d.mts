export interface TorchRow {
  model: string;
  task: 'forward_ll' | 'prompt_step';
  threads: number;
  median_s: number;
  tokens_per_s: number;
  runs_s: number[];
}
export function torchPeer(log?: (...a: unknown[]) => void, o?: { runsSmall?: number; runsBig?: number }): Promise<Map<string, TorchRow>>;
