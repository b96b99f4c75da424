// The tune app: load a model into a worker, tune a soft prompt there on the user's examples with a
// progress bar, a live loss curve, Stop and Resume (from the last checkpoint), samples before and
// after, and the PEFT files to download. The page's thread only draws; it never runs the model.
import { generateInWorker, loadModelInWorker, tuneFilesInWorker, tuneInWorker, type PeftFileMap, type WorkerModel } from 'promptkiln';
import { loadSavedCheckpoint, saveCheckpoint } from './checkpoint-store';
import { download, parseExamples, readPicked, type Example } from './files';
import { LossChart } from './loss-chart';

const HUB_MODEL = 'karpathy/tinyllamas/stories260K';
const DEFAULT_EXAMPLES = [
  'Once upon a time, there was a little girl.', 'One day, a boy went to the park.', 'Lily had a red ball.',
  'The sun was shining.', 'Ben liked to read books.', 'A cat sat on the mat.', 'Mom made a big cake.', 'It was a rainy day.',
].map((input) => JSON.stringify({ input, target: ' Tom was happy.' })).join('\n');
const CHECKPOINT_EVERY = 10;

const $ = <T extends HTMLElement = HTMLElement>(id: string) => document.getElementById(id) as T;
const num = (id: string) => Number($<HTMLInputElement>(id).value);
const chart = new LossChart($<HTMLCanvasElement>('chart'));
const app = {
  model: null as WorkerModel | null,
  checkpoint: null as Uint8Array | null, // the last one the worker sent: Resume starts from it
  files: null as PeftFileMap | null,
  losses: chart.losses,
  run: null as AbortController | null,
  runFirstStep: 0, // the first step the current run reported (a resumed run: the checkpoint's + 1)
  saving: Promise.resolve() as Promise<void>, // the checkpoint's write to IndexedDB
};
(window as unknown as { tuneApp: typeof app }).tuneApp = app; // for the end-to-end test

$<HTMLTextAreaElement>('examples').value = DEFAULT_EXAMPLES;
$<HTMLInputElement>('endpoint').value = new URLSearchParams(location.search).get('hub') ?? 'https://huggingface.co';

function status(state: string, text: string): void {
  $('status').dataset.state = state;
  $('status').textContent = text;
  const busy = state === 'loading' || state === 'tuning';
  $<HTMLButtonElement>('load').disabled = busy;
  $<HTMLButtonElement>('tune').disabled = busy || !app.model;
  $<HTMLButtonElement>('stop').disabled = state !== 'tuning';
  $<HTMLButtonElement>('resume').disabled = busy || !app.model || !app.checkpoint;
  $<HTMLButtonElement>('download').disabled = busy || !app.files;
}

function tuneOptions() {
  return { virtualTokens: num('tokens'), maxSteps: num('steps'), lr: num('lr'), batchSize: 4, seed: 0 };
}

async function samples(examples: Example[], adapter: PeftFileMap | null): Promise<string> {
  const out: string[] = [];
  for (const e of examples.slice(0, 3)) out.push(e.input + ' ⟶' + (await generateInWorker(app.model!, e.input, { adapter, maxTokens: 16 })).text);
  return out.join('\n');
}

$('load').onclick = async () => {
  status('loading', 'Loading the model…');
  try {
    await app.model?.dispose();
    app.model = null;
    const local = (document.querySelector('input[name=source]:checked') as HTMLInputElement).value === 'local';
    const picked = $<HTMLInputElement>('folder').files;
    if (local && !picked?.length) throw new Error('pick a model folder first');
    const source = local ? { files: await readPicked(picked!), name: 'local' } : HUB_MODEL;
    const worker = new Worker(new URL('./model-worker.ts', import.meta.url), { type: 'module' });
    app.model = await loadModelInWorker(source, { worker, endpoint: $<HTMLInputElement>('endpoint').value, threads: 1 });
    const c = app.model.config;
    status('ready', `Loaded ${app.model.id}: ${c.nLayers} layers × ${c.dim}, vocabulary ${c.vocabSize}.`);
  } catch (e) {
    status('error', `Could not load the model: ${(e as Error).message}`);
  }
};

$<HTMLInputElement>('upload').onchange = async (ev) => {
  const f = (ev.target as HTMLInputElement).files?.[0];
  if (f) $<HTMLTextAreaElement>('examples').value = await f.text();
};

async function tune(resume: Uint8Array | null): Promise<void> {
  let examples: Example[];
  try {
    examples = parseExamples($<HTMLTextAreaElement>('examples').value);
    if (!examples.length) throw new Error('no examples');
  } catch (e) {
    return status('error', (e as Error).message);
  }
  const o = tuneOptions();
  if (!resume) {
    chart.clear();
    app.checkpoint = null;
    $('after').textContent = '';
    $('before').textContent = await samples(examples, null);
  }
  app.files = null;
  app.runFirstStep = 0;
  app.run = new AbortController();
  const bar = $<HTMLProgressElement>('progress');
  bar.max = o.maxSteps;
  status('tuning', resume ? 'Resuming…' : 'Tuning…');
  try {
    const r = await tuneInWorker(app.model!, examples, {
      ...o, checkpointEvery: CHECKPOINT_EVERY, resume, signal: app.run.signal,
      onCheckpoint: (bytes) => {
        app.checkpoint = bytes;
        app.saving = saveCheckpoint({ bytes, examples: $<HTMLTextAreaElement>('examples').value, options: o })
          .catch((e) => console.warn(`the checkpoint was not saved in IndexedDB: ${e}`));
      },
      onProgress: (e) => {
        if (!app.runFirstStep) app.runFirstStep = e.step;
        bar.value = e.step;
        chart.push(e.loss);
        $('status').textContent = `Step ${e.step} / ${e.totalSteps}: loss ${e.loss.toFixed(3)}`;
      },
    });
    app.files = r.files;
    $('after').textContent = await samples(examples, app.files);
    status('done', `Done: ${r.metrics.steps} steps, loss ${chart.losses[0]?.toFixed(3)} → ${chart.losses.at(-1)?.toFixed(3)}.`);
  } catch (e) {
    if ((e as { code?: string }).code !== 'ABORTED') return status('error', `Tuning failed: ${(e as Error).message}`);
    if (!app.checkpoint) return status('ready', 'Stopped before the first checkpoint.');
    // the stopped run's prompt: the worker turns the last checkpoint into PEFT files
    const { step, files } = await tuneFilesInWorker(app.model!, app.checkpoint, o);
    app.files = files;
    $('after').textContent = await samples(examples, files);
    await app.saving;
    status('stopped', `Stopped; the prompt of step ${step} is ready (Resume continues from it).`);
  }
}

// a checkpoint saved before a reload: its examples and settings come back with it
void loadSavedCheckpoint().then((saved) => {
  if (saved) {
    app.checkpoint = saved.bytes;
    $<HTMLTextAreaElement>('examples').value = saved.examples;
    $<HTMLInputElement>('tokens').value = String(saved.options.virtualTokens);
    $<HTMLInputElement>('steps').value = String(saved.options.maxSteps);
    $<HTMLInputElement>('lr').value = String(saved.options.lr);
    $('status').textContent = 'Load a model to start, or to resume the saved run.';
  }
  document.body.dataset.restored = saved ? 'yes' : 'no';
}, () => (document.body.dataset.restored = 'no'));

$('tune').onclick = () => void tune(null);
$('resume').onclick = () => void tune(app.checkpoint);
$('stop').onclick = () => app.run?.abort();
$('download').onclick = () => {
  for (const [name, data] of Object.entries(app.files!)) download(name, data);
};
