// Text handling for search: turning an LLM's free text into candidate instructions, and the
// phrase chunker GrIPS edits operate on.

const LABEL = /^\s*(?:\d+[.)]\s*|[-*•]\s*|(?:new\s+)?(?:prompt|instruction|output|answer)\s*\d*\s*[:：]\s*)/i;

// One instruction from a completion: <INS>…</INS> or <START>…<END> when present, else the first
// paragraph; list markers, labels and wrapping quotes removed. null when nothing usable is left.
export function cleanProposal(text: string, maxChars = 400): string | null {
  let t = text;
  const tag = /<INS>([\s\S]*?)(?:<\/INS>|$)/i.exec(t) ?? /<START>([\s\S]*?)(?:<END>|$)/i.exec(t);
  if (tag) t = tag[1];
  t = t.trim().split(/\n\s*\n/)[0] ?? '';
  t = t.replace(LABEL, '').trim();
  t = t.replace(/^["'“”‘’`]+|["'“”‘’`]+$/g, '').replace(/\s+/g, ' ').trim();
  if (t.length > maxChars) t = t.slice(0, maxChars).replace(/\s+\S*$/, '');
  return t.length >= 3 ? t : null;
}

// Several instructions from one completion: numbered/bulleted lines or tagged blocks.
export function splitProposals(text: string): string[] {
  const tagged = [...text.matchAll(/<(?:INS|START)>([\s\S]*?)<\/?(?:INS|END)>/gi)].map((m) => m[1]);
  const parts = tagged.length ? tagged : /^\s*(?:\d+[.)]|[-*•])\s+/m.test(text) ? text.split(/\n(?=\s*(?:\d+[.)]|[-*•])\s+)/) : [text];
  const out: string[] = [];
  for (const p of parts) {
    const c = cleanProposal(p);
    if (c && !out.includes(c)) out.push(c);
  }
  return out;
}

// A shallow phrase chunker (GrIPS used a constituency parser; this needs no model): sentences
// split at punctuation, then before conjunctions, prepositions and relative pronouns, so each
// chunk is a phrase-like unit ("Continue the story", "so that Tom appears", "in it").
const BREAK_WORDS = new Set(
  'and or but so that which who whose when where while because if then with without in on at for to of by from about into after before than as'.split(' '),
);

export function chunkPhrases(text: string): string[] {
  const out: string[] = [];
  for (const clause of text.split(/(?<=[,.;:!?])\s+/)) {
    let cur: string[] = [];
    for (const w of clause.split(/\s+/).filter(Boolean)) {
      const bare = w.toLowerCase().replace(/[^a-z]/g, '');
      if (cur.length >= 2 && BREAK_WORDS.has(bare)) {
        out.push(cur.join(' '));
        cur = [];
      }
      cur.push(w);
    }
    if (cur.length) out.push(cur.join(' '));
  }
  return out;
}

export const joinPhrases = (ps: string[]) => ps.join(' ').replace(/\s+/g, ' ').trim();

export const words = (s: string) => s.split(/\s+/).filter(Boolean);
