/** `pld finetune`: flags → `finetune()` for each checkpoint → one comparison table. */
import * as path from 'path';
import { FINETUNE_DEFAULTS, FinetuneResult, finetune, markdownTable } from '../finetune/finetune';
import { writeFileAtomic, checkWritableDir } from '../util/atomic';
import { BACKENDS, BackendName } from '../backend';

export const FINETUNE_HELP = `pld finetune --checkpoint DIR[,DIR...] [--tasks a,b,...] [--glue-dir DIR] [options]

Fine-tunes pretrained checkpoints (any variant) at full depth and reports dev scores, mean ± std
over seeds, against each task's majority/mean baseline.

  --checkpoint DIRS   pretraining run directories (or their checkpoint/ folders), comma-separated
  --tasks LIST        offline suite: spam, genre, sotu-year, adjacent, acceptability (default: all);
                      GLUE: CoLA, SST-2, MRPC, STS-B, QQP, MNLI, QNLI, RTE, WNLI (needs --glue-dir)
  --glue-dir DIR      GLUE data in the official layout (<DIR>/CoLA/train.tsv, …)
  --epochs N          (default ${FINETUNE_DEFAULTS.epochs})      --batch N    (default ${FINETUNE_DEFAULTS.batchSize})
  --lrs LIST          learning-rate grid, comma-separated (default ${FINETUNE_DEFAULTS.lrs.join(',')})
  --seeds LIST        seeds, comma-separated (default ${FINETUNE_DEFAULTS.seeds.join(',')})
  --max-seq N         tokens per example (default ${FINETUNE_DEFAULTS.maxSeqLen})
  --max-train N       cap training examples per task     --max-dev N   cap dev examples
  --out DIR           where the comparison table goes (default: each run's finetune/ folder)
  --backend B         tensorflow | wasm | cpu            --threads N   compute threads (PLD_THREADS)
  --quiet             no progress output`;

type ParseFlags = (args: string[], known: Record<string, 'value' | 'switch'>) => Map<string, string | true>;

function list(v: string | true | undefined, name: string, asNumber: boolean): (string | number)[] | undefined {
  if (v === undefined) return undefined;
  if (v === true) throw new Error(`--${name} needs a value`);
  const parts = v.split(',').map((s) => s.trim()).filter((s) => s !== '');
  if (parts.length === 0) throw new Error(`--${name} needs at least one value`);
  if (!asNumber) return parts;
  return parts.map((p) => {
    const n = Number(p);
    if (!Number.isFinite(n)) throw new Error(`--${name} must be comma-separated numbers, got '${p}'`);
    return n;
  });
}

function int(v: string | true | undefined, name: string): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (v === true || !Number.isInteger(n) || n < 1) throw new Error(`--${name} must be a whole number >= 1, got '${String(v)}'`);
  return n;
}

export async function finetuneCommand(args: string[], parseFlags: ParseFlags): Promise<FinetuneResult[]> {
  const f = parseFlags(args, {
    checkpoint: 'value', tasks: 'value', 'glue-dir': 'value', epochs: 'value', batch: 'value', lrs: 'value', seeds: 'value', 'max-seq': 'value',
    'max-train': 'value', 'max-dev': 'value', out: 'value', backend: 'value', threads: 'value', quiet: 'switch', help: 'switch',
  });
  const ckpts = list(f.get('checkpoint'), 'checkpoint', false) as string[] | undefined;
  if (!ckpts) throw new Error('--checkpoint is required: a pretraining run directory (see pld pretrain --help)');
  const backend = f.get('backend');
  if (backend !== undefined && (backend === true || !(BACKENDS as readonly string[]).includes(backend))) throw new Error(`unknown backend '${String(backend)}'; use one of ${BACKENDS.join(', ')}`);
  const tasks = (list(f.get('tasks'), 'tasks', false) as string[] | undefined) ?? ['spam', 'genre', 'sotu-year', 'adjacent', 'acceptability'];
  const out = f.get('out');
  if (out !== undefined && out !== true) checkWritableDir(out);
  const results: FinetuneResult[] = [];
  for (const checkpoint of ckpts) {
    results.push(
      await finetune({
        checkpoint,
        tasks,
        glueDir: typeof f.get('glue-dir') === 'string' ? (f.get('glue-dir') as string) : undefined,
        config: {
          ...(f.has('epochs') ? { epochs: int(f.get('epochs'), 'epochs') } : {}),
          ...(f.has('batch') ? { batchSize: int(f.get('batch'), 'batch') } : {}),
          ...(f.has('lrs') ? { lrs: list(f.get('lrs'), 'lrs', true) as number[] } : {}),
          ...(f.has('seeds') ? { seeds: list(f.get('seeds'), 'seeds', true) as number[] } : {}),
          ...(f.has('max-seq') ? { maxSeqLen: int(f.get('max-seq'), 'max-seq') } : {}),
          ...(f.has('max-train') ? { maxTrain: int(f.get('max-train'), 'max-train') } : {}),
          ...(f.has('max-dev') ? { maxDev: int(f.get('max-dev'), 'max-dev') } : {}),
        },
        out: typeof out === 'string' ? path.join(out, path.basename(path.resolve(checkpoint))) : undefined,
        backend: backend as BackendName | undefined,
        threads: int(f.get('threads'), 'threads'),
        quiet: f.has('quiet'),
      }),
    );
  }
  const table = markdownTable(results);
  if (typeof out === 'string') writeFileAtomic(path.join(out, 'comparison.md'), table);
  console.log(table);
  return results;
}
