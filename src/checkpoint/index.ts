/**
 * Checkpoint file formats, free of tfjs: safetensors encoding/decoding, crash-safe writes, and the
 * BERT parameter naming (Hugging Face names, kit vs PyTorch layout). The tfjs glue that saves and
 * restores a model and optimizer lives in ./checkpoint.ts and is deliberately not re-exported
 * here, so this entry point can be used without loading tfjs. Format: docs/checkpoint-format.md.
 */
export * from './safetensors';
export * from '../util/atomic';
export * from './hf-names';
