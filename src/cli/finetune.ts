/** `pld finetune`: flags → `finetune()` for each checkpoint → one comparison table. */
import * as path from 'path';
import { FINETUNE_DEFAULTS, FinetuneConfig, FinetuneResult, finetune, markdownTable } from '../finetune/finetune';
import { OFFLINE_TASKS } from '../tasks/offline';
import { GLUE_TASKS } from '../tasks/glue';
import { writeFileAtomic, checkWritableDir } from '../util/atomic';
import { backendFlag, listFlag, numberListFlag, parseFlags, stringFlag, wholeNumberFlag } from './flags';

export const FINETUNE_HELP = `pld finetune --checkpoint DIR[,DIR...] [--tasks a,b,...] [--glue-dir DIR] [options]

Fine-tunes pretrained checkpoints (any variant) at full depth and reports dev scores, median and
interquartile range over seeds, against each task's constant baseline (the best constant
class on the training labels, or the mean score). With several --lrs,
each task's LR is chosen on a held-out fifth of its training examples, never on dev.

  --checkpoint DIRS   pretraining run directories (or their checkpoint/ folders), comma-separated
  --tasks LIST        offline suite: ${OFFLINE_TASKS.join(', ')} (default: all);
                      GLUE: ${GLUE_TASKS.join(', ')} (needs --glue-dir)
  --glue-dir DIR      GLUE data in the official layout (<DIR>/CoLA/train.tsv, …)
  --epochs N          (default ${FINETUNE_DEFAULTS.epochs})      --batch N    (default ${FINETUNE_DEFAULTS.batchSize})
  --lrs LIST          learning-rate grid, comma-separated (default ${FINETUNE_DEFAULTS.lrs.join(',')})
  --seeds LIST        seeds, comma-separated (default ${FINETUNE_DEFAULTS.seeds.join(',')})
  --max-seq N         tokens per example (default ${FINETUNE_DEFAULTS.maxSeqLen})
  --max-train N       cap training examples per task     --max-dev N   cap dev examples
  --random-init       the control: a randomly initialised encoder of each checkpoint's shape,
                      fine-tuned the same way (results in <run>/finetune-random)
  --out DIR           where the comparison table goes (default: each run's finetune/ folder)
  --backend B         tensorflow|webgpu|wasm|cpu         --threads N   compute threads (PLD_THREADS)
  --quiet             no progress output`;

export async function finetuneCommand(args: string[]): Promise<FinetuneResult[]> {
  const f = parseFlags(args, {
    checkpoint: 'value',
    tasks: 'value',
    'glue-dir': 'value',
    epochs: 'value',
    batch: 'value',
    lrs: 'value',
    seeds: 'value',
    'max-seq': 'value',
    'max-train': 'value',
    'max-dev': 'value',
    'random-init': 'switch',
    out: 'value',
    backend: 'value',
    threads: 'value',
    quiet: 'switch',
    help: 'switch',
  });
  const ckpts = listFlag(f, 'checkpoint');
  if (!ckpts) throw new Error('--checkpoint is required: a pretraining run directory (see pld pretrain --help)');
  const backend = backendFlag(f);
  const tasks = listFlag(f, 'tasks') ?? [...OFFLINE_TASKS];
  const out = stringFlag(f, 'out');
  if (out !== undefined) checkWritableDir(out);
  const config: Partial<FinetuneConfig> = {
    epochs: wholeNumberFlag(f, 'epochs'),
    batchSize: wholeNumberFlag(f, 'batch'),
    lrs: numberListFlag(f, 'lrs'),
    seeds: numberListFlag(f, 'seeds'),
    maxSeqLen: wholeNumberFlag(f, 'max-seq'),
    maxTrain: wholeNumberFlag(f, 'max-train'),
    maxDev: wholeNumberFlag(f, 'max-dev'),
  };
  const threads = wholeNumberFlag(f, 'threads');
  const results: FinetuneResult[] = [];
  for (const checkpoint of ckpts) {
    results.push(
      await finetune({
        checkpoint,
        tasks,
        glueDir: stringFlag(f, 'glue-dir'),
        config: Object.fromEntries(Object.entries(config).filter(([, v]) => v !== undefined)),
        init: f.has('random-init') ? 'random' : 'pretrained',
        out: out !== undefined ? path.join(out, path.basename(path.resolve(checkpoint))) : undefined,
        backend,
        threads,
        quiet: f.has('quiet'),
      }),
    );
  }
  const table = markdownTable(results);
  if (out !== undefined) writeFileAtomic(path.join(out, 'comparison.md'), table);
  console.log(table);
  return results;
}
