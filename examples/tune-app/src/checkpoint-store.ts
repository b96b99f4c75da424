// The last tuning checkpoint in IndexedDB, with the examples and settings it belongs to, so Resume
// also works after a reload (the worker refuses a checkpoint whose run differs, naming what).
export interface Saved {
  bytes: Uint8Array;
  examples: string;
  options: { virtualTokens: number; maxSteps: number; lr: number };
}

const DB = 'promptkiln-tune-app', STORE = 'checkpoint', KEY = 'last';

function open(): Promise<IDBDatabase> {
  return new Promise((resolve, reject) => {
    const r = indexedDB.open(DB, 1);
    r.onupgradeneeded = () => r.result.createObjectStore(STORE);
    r.onsuccess = () => resolve(r.result);
    r.onerror = () => reject(r.error);
  });
}

async function request<T>(mode: IDBTransactionMode, op: (s: IDBObjectStore) => IDBRequest): Promise<T> {
  const db = await open();
  try {
    return await new Promise<T>((resolve, reject) => {
      const r = op(db.transaction(STORE, mode).objectStore(STORE));
      r.onsuccess = () => resolve(r.result as T);
      r.onerror = () => reject(r.error);
    });
  } finally {
    db.close();
  }
}

export const saveCheckpoint = (s: Saved) => request<void>('readwrite', (st) => st.put(s, KEY));
export const loadSavedCheckpoint = () => request<Saved | undefined>('readonly', (st) => st.get(KEY));
