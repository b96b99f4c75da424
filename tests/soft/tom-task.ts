// A small task on stories260K: story openings whose continuation always brings in Tom.
// Openings are built from parts, so train and validation share no opening.
import type { Example } from '../../src/soft/types.js';

const WHO = ['a little girl named Lily', 'a boy named Ben', 'a small cat', 'a happy dog', 'a girl named Sue', 'an old man', 'a little bird', 'a big bear'];
const DID = ['She liked to play in the park.', 'It was a sunny day.', 'One day, it went to the store.', 'The sun was hot and bright.', 'It had a red ball.', 'It wanted to find a friend.'];
const THEN = [' Then Tom came and said hello.', ' One day, Tom came to play.', ' Tom was a good friend.', ' Then Tom came to help.'];

export function tomTask(): { train: Example[]; valid: Example[] } {
  const all: Example[] = [];
  let k = 0;
  for (const w of WHO) for (const d of DID) all.push({ input: `Once upon a time, there was ${w}. ${d}`, target: THEN[k++ % THEN.length] });
  // every 4th opening is held out (a different who/did pairing from any training example)
  return { train: all.filter((_, i) => i % 4 !== 0), valid: all.filter((_, i) => i % 4 === 0) };
}
