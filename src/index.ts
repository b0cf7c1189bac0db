/**
 * The kit's public API. Scripts and notebooks import from here (notebooks: `../dist/src/index`).
 */
export * from './rng';
export * from './schedule';
export * from './schedule-report';
export * from './backend';
export * from './model/config';
export * from './model/bert';
export * from './model/ops';
export * from './train/config';
export * from './train/optimizer';
export * from './train/lr';
export * from './train/step';
export * from './train/mlm';
export * from './train/pretrain';
export * from './train/runlog';
export * from './checkpoint/checkpoint';
export * from './checkpoint/safetensors';
export * from './checkpoint/hf-names';
export * from './data/corpus';
export * from './data/tokenizer';
export * from './data/wordpiece-trainer';
export * from './data/mlm';
export * from './tasks/types';
export * from './tasks/glue';
export * from './tasks/offline';
export * from './metrics';
export * from './finetune';
export * from './experiments';
export * from './bench';
export * from './manifest';
export * from './paths';
export * from './plots/types';
export * from './plots/figures';
export * from './plots/export';
export * from './notebook';
