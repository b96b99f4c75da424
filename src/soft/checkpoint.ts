// Tuning checkpoints are train/'s one checkpoint format (DIR/train_state.safetensors in the CLI).
export { encodeCheckpoint, decodeCheckpoint, saveCheckpointFile, loadCheckpointFile, type TrainCheckpoint } from '../train/index.js';
