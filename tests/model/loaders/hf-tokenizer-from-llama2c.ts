// Builds a Hugging Face tokenizer.json (the Llama/SentencePiece-BPE layout HF's LlamaConverter
// writes: Prepend/Replace "▁" normalizer, BPE with byte_fallback, merges ranked by the merged
// piece's score) from the real tok512.bin, so the HF wrapper runs on a real vocabulary.
import { parseLlama2cTokenizer } from '../../../src/model/tokenizer-llama2c.js';

export function hfTokenizerJsonFromLlama2c(bytes: Uint8Array): { tokenizer: string; config: string } {
  const tok = parseLlama2cTokenizer(bytes);
  const special = ['<unk>', '<s>', '</s>'];
  const vocab: Record<string, number> = {};
  const pieceOf: string[] = [];
  for (let id = 0; id < tok.vocabSize; id++) {
    const p = id < 3 ? special[id] : tok.piece(id).replace(/ /g, '\u2581');
    pieceOf.push(p);
    if (!(p in vocab)) vocab[p] = id;
  }
  const merges: { a: string; b: string; rank: number; ia: number; ib: number }[] = [];
  for (let id = 3; id < tok.vocabSize; id++) {
    const chars = Array.from(pieceOf[id]);
    if (/^<0x[0-9A-F]{2}>$/.test(pieceOf[id]) || chars.length < 2) continue;
    for (let k = 1; k < chars.length; k++) {
      const a = chars.slice(0, k).join('');
      const b = chars.slice(k).join('');
      if (a in vocab && b in vocab) merges.push({ a, b, rank: -tok.score(id), ia: vocab[a], ib: vocab[b] });
    }
  }
  merges.sort((x, y) => x.rank - y.rank || x.ia - y.ia || x.ib - y.ib);
  const added = special.map((content, id) => ({ id, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true }));
  const tokenizer = {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: added,
    normalizer: { type: 'Sequence', normalizers: [{ type: 'Prepend', prepend: '\u2581' }, { type: 'Replace', pattern: { String: ' ' }, content: '\u2581' }] },
    pre_tokenizer: null,
    post_processor: {
      type: 'TemplateProcessing',
      single: [{ SpecialToken: { id: '<s>', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }],
      pair: [{ SpecialToken: { id: '<s>', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }, { SpecialToken: { id: '<s>', type_id: 1 } }, { Sequence: { id: 'B', type_id: 1 } }],
      special_tokens: { '<s>': { id: '<s>', ids: [1], tokens: ['<s>'] } },
    },
    decoder: {
      type: 'Sequence',
      decoders: [{ type: 'Replace', pattern: { String: '\u2581' }, content: ' ' }, { type: 'ByteFallback' }, { type: 'Fuse' }, { type: 'Strip', content: ' ', start: 1, stop: 0 }],
    },
    model: {
      type: 'BPE', dropout: null, unk_token: '<unk>', continuing_subword_prefix: null, end_of_word_suffix: null,
      fuse_unk: true, byte_fallback: true, ignore_merges: false, vocab, merges: merges.map((m) => [m.a, m.b]),
    },
  };
  const config = {
    bos_token: '<s>', eos_token: '</s>', unk_token: '<unk>', add_bos_token: true, add_eos_token: false, legacy: true,
    tokenizer_class: 'LlamaTokenizer',
    chat_template: "{% for m in messages %}{{ m['role'] }}: {{ m['content'] }}\n{% endfor %}",
  };
  return { tokenizer: JSON.stringify(tokenizer), config: JSON.stringify(config) };
}
