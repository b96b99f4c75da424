// The training layer between model/ and soft/, compress/, search/: one loop, its optimizers,
// schedules, checkpoints and identities, and the small trainable pieces methods share.
export { train, Trainer, epochOrder, YIELD_MS, type TrainMethod, type StepResult, type Evaluation, type LoopOptions, type LoopProgress, type LoopResult } from './loop.js';
export { AdamW, SGD, makeOptimizer, paramOf, type Param, type Optimizer, type OptimizerSpec, type OptimizerState, type AdamWOptions, type SGDOptions } from './optim.js';
export { learningRate, checkSchedule, SCHEDULES, type Schedule } from './schedule.js';
export { encodeCheckpoint, decodeCheckpoint, saveCheckpointFile, loadCheckpointFile, type TrainCheckpoint, type HistoryEntry } from './checkpoint.js';
export { modelIdentity, keyLayout, checkModelIdentity, readModelIdentity, checkRunIdentity, Fnv, type ModelIdentity, type ModelRef, type KeyLayout, type RunIdentity } from './identity.js';
export { Mlp, type MlpActs, type MlpInit } from './mlp.js';
export { teacherFor, expandTeacher, argmaxRow, distillLoss, type TeacherRows, type DistillObjective } from './distill.js';
