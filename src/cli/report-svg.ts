// Inline-SVG pictures for the run report: the candidate tree (who came from whom, by which
// operator) and a scatter plot with its Pareto front. No scripts, no external assets.
import { esc } from './report.js';

const OPERATOR_COLORS = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b', '#e377c2', '#17becf'];

export interface TreeNode {
  id: string;
  parent: string | null;
  also?: string; // a merge's second parent
  operator: string;
  iteration: number;
  score: number | null;
}

// Columns are iterations, rows are creation order within one; the best's lineage is drawn thick.
export function candidateTree(nodes: TreeNode[], highlight: Set<string>): string {
  if (nodes.length === 0) return '<p><em>no candidates yet</em></p>';
  const ops = [...new Set(nodes.map((n) => n.operator.replace(/:c\d+$/, '')))];
  const color = (op: string) => OPERATOR_COLORS[ops.indexOf(op.replace(/:c\d+$/, '')) % OPERATOR_COLORS.length];
  const cols = new Map<number, TreeNode[]>();
  for (const n of nodes) cols.set(n.iteration, [...(cols.get(n.iteration) ?? []), n]);
  const iters = [...cols.keys()].sort((a, b) => a - b);
  const rows = Math.max(...[...cols.values()].map((c) => c.length));
  const dx = 120, dy = 26, m = { l: 30, t: 30 };
  const W = m.l + iters.length * dx + 40, H = m.t + rows * dy + 20 + 16 * ops.length;
  const pos = new Map<string, [number, number]>();
  iters.forEach((it, ci) => cols.get(it)!.forEach((n, ri) => pos.set(n.id, [m.l + ci * dx, m.t + ri * dy])));
  const p: string[] = [`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="10" class="tree">`];
  iters.forEach((it, ci) => p.push(`<text x="${m.l + ci * dx}" y="14" text-anchor="middle">iteration ${it}</text>`));
  for (const n of nodes) {
    const [x, y] = pos.get(n.id)!;
    for (const [par, dash] of [[n.parent, ''], [n.also ?? null, ' stroke-dasharray="4 3"']] as [string | null, string][]) {
      const q = par ? pos.get(par) : undefined;
      if (!q) continue;
      const thick = highlight.has(n.id) && highlight.has(par!) ? 3 : 1;
      p.push(`<path class="edge" d="M${q[0]},${q[1]} C${(q[0] + x) / 2},${q[1]} ${(q[0] + x) / 2},${y} ${x},${y}" fill="none" stroke="${color(n.operator)}" stroke-width="${thick}"${dash}/>`);
    }
  }
  for (const n of nodes) {
    const [x, y] = pos.get(n.id)!;
    const s = n.score === null ? 'n/a' : Math.abs(n.score) >= 10 ? n.score.toFixed(1) : n.score.toFixed(3);
    p.push(`<circle class="node" cx="${x}" cy="${y}" r="${highlight.has(n.id) ? 6 : 4}" fill="${color(n.operator)}"><title>${esc(`${n.id} ${n.operator} ${s}`)}</title></circle>`);
    p.push(`<text x="${x + 8}" y="${y + 3}">${esc(n.id)} ${esc(s)}</text>`);
  }
  ops.forEach((op, i) => p.push(`<text x="${m.l}" y="${m.t + rows * dy + 14 + 16 * i}" fill="${color(op)}">■ ${esc(op)}</text>`));
  p.push('</svg>');
  return p.join('');
}

export interface ScatterPoint {
  id: string;
  x: number;
  y: number;
  front: boolean;
  winner: boolean;
}

// y is maximized, x minimized: the front runs from the bottom left to the top right.
export function paretoPlot(points: ScatterPoint[], o: { xLabel: string; yLabel: string; width?: number; height?: number }): string {
  const pts = points.filter((q) => Number.isFinite(q.x) && Number.isFinite(q.y));
  if (pts.length === 0) return '<p><em>no data</em></p>';
  const W = o.width ?? 560, H = o.height ?? 300, m = { l: 60, r: 16, t: 12, b: 36 };
  let [x0, x1] = [Math.min(...pts.map((q) => q.x)), Math.max(...pts.map((q) => q.x))];
  let [y0, y1] = [Math.min(...pts.map((q) => q.y)), Math.max(...pts.map((q) => q.y))];
  if (x0 === x1) (x0 -= Math.abs(x0) * 0.1 || 1), (x1 += Math.abs(x1) * 0.1 || 1);
  if (y0 === y1) (y0 -= Math.abs(y0) * 0.1 || 1), (y1 += Math.abs(y1) * 0.1 || 1);
  const sx = (x: number) => m.l + ((x - x0) / (x1 - x0)) * (W - m.l - m.r);
  const sy = (y: number) => H - m.b - ((y - y0) / (y1 - y0)) * (H - m.t - m.b);
  const tick = (v: number) => (Math.abs(v) >= 1000 || (v !== 0 && Math.abs(v) < 0.01) ? v.toExponential(1) : Number(v.toFixed(3)).toString());
  const p: string[] = [`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="11" class="pareto">`];
  p.push(`<rect x="${m.l}" y="${m.t}" width="${W - m.l - m.r}" height="${H - m.t - m.b}" fill="none" stroke="#ccc"/>`);
  for (let i = 0; i <= 4; i++) {
    p.push(`<text x="${m.l - 4}" y="${sy(y0 + ((y1 - y0) * i) / 4) + 4}" text-anchor="end">${tick(y0 + ((y1 - y0) * i) / 4)}</text>`);
    p.push(`<text x="${sx(x0 + ((x1 - x0) * i) / 4)}" y="${H - m.b + 14}" text-anchor="middle">${tick(x0 + ((x1 - x0) * i) / 4)}</text>`);
  }
  p.push(`<text x="${(W + m.l) / 2}" y="${H - 4}" text-anchor="middle">${esc(o.xLabel)}</text>`);
  p.push(`<text x="12" y="${H / 2}" transform="rotate(-90 12 ${H / 2})" text-anchor="middle">${esc(o.yLabel)}</text>`);
  const front = pts.filter((q) => q.front).sort((a, b) => a.x - b.x);
  if (front.length > 1) p.push(`<polyline class="front-line" fill="none" stroke="#d62728" stroke-width="1.5" points="${front.map((q) => `${sx(q.x).toFixed(1)},${sy(q.y).toFixed(1)}`).join(' ')}"/>`);
  for (const q of pts) {
    const cls = q.winner ? 'winner' : q.front ? 'front' : 'dominated';
    const fill = q.winner ? '#2ca02c' : q.front ? '#d62728' : '#999';
    p.push(`<circle class="${cls}" cx="${sx(q.x).toFixed(1)}" cy="${sy(q.y).toFixed(1)}" r="${q.winner ? 6 : 4}" fill="${fill}"><title>${esc(`${q.id}: ${o.yLabel} ${q.y}, ${o.xLabel} ${q.x}`)}</title></circle>`);
    if (q.front || q.winner) p.push(`<text x="${(sx(q.x) + 7).toFixed(1)}" y="${(sy(q.y) - 5).toFixed(1)}">${esc(q.id)}</text>`);
  }
  p.push('</svg>');
  return p.join('');
}
