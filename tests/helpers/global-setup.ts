// vitest global setup: rebuild wasm/ and dist/ when their sources changed, so `npx vitest run`
// after an edit never runs stale builds (the hash check costs ~100 ms when nothing changed).
// @ts-expect-error: a plain .mjs script without types
import { ensureBuild } from '../../scripts/ensure-build.mjs';

export default function setup(): void {
  (ensureBuild as (o?: { quiet?: boolean }) => string[])();
}
