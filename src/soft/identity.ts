// The model identity soft artifacts record lives in train/ (one shape for soft/ and compress/).
export { keyLayout, modelIdentity, type ModelRef } from '../train/index.js';
