#!/usr/bin/env node
/**
 * `pld`: the kit's command line. Each subcommand is a thin wrapper over an exported function
 * (pretrain, finetune, runBenchmarks, initBackend), so scripts and notebooks get the same behaviour.
 * Every failure is one line on stderr and a non-zero exit.
 */
import { describeBackend, initBackend } from '../backend';
import { describeAdapter } from '../backend/webgpu';
import { runBenchmarks } from '../bench/bench';
import { PARITY_TOLERANCE, gpuCheckReport, runGpuCheck } from '../bench/gpu';
import { defaultWasmThreads } from '../backend/wasm-threads';
import { PRESETS, VARIANTS, RunOverrides, checkOverrides, readConfigFile, resolveConfig } from '../train/config';
import { pretrain } from '../train/pretrain';
import { finetuneCommand, FINETUNE_HELP } from './finetune';
import { exportCommand, exportDataCommand } from './export';
import { backendFlag, numberFlag, parseFlags, stringFlag, wholeNumberFlag, wholeNumberListFlag } from './flags';

const PRETRAIN_HELP = `pld pretrain --variant <${VARIANTS.join('|')}> [--preset <${PRESETS.join('|')}>] [options]

Masked-language-model pretraining of one variant on the npm-installed corpora (Brown + SOTU).

  --variant V        postln (original BERT), preln, preln-pld (PreLN + progressive layer dropping)
  --preset P         quick (seconds), small (default; 12 blocks), base (BERT-base shape, for GPUs)
  --config FILE      JSON overrides: {"model": {...}, "schedule": {...}, "optim": {...}, "data": {...}, "train": {...}, "seed": n}
  --out DIR          output directory (default runs/<preset>/<variant>-s<seed>-lr<lr>)
  --resume           continue the run in --out from its last checkpoint
  --seed N           random seed
  --lr X             peak learning rate
  --steps N          optimizer steps
  --theta X          PLD θ̄ (preln-pld)        --gamma X   PLD γ (preln-pld)
  --corpus DIR       also read a folder of .txt files (one document each)
  --vocab FILE       BERT-format vocab.txt
  --backend B        tensorflow | webgpu | wasm | cpu (default: best available; env PLD_BACKEND)
  --threads N        compute threads: OpenBLAS with the native kernels, else the wasm pool
                     (default: all cores; env PLD_THREADS)
  --quiet            no progress output
Outputs: manifest.json, log.jsonl/csv (per step), eval.jsonl/csv (validation), checkpoint/.`;

const INFO_HELP = `pld info [--backend B] [--threads N]

Prints the backend the kit would use, whether a GPU is used, and versions.`;

const BENCH_HELP = `pld bench [--steps N] [--threads LIST] [--backend B] [--only throughput|pld] [--no-torch] [--quick]
pld bench --gpu [--steps N] [--no-base]

Prints Markdown tables (progress goes to stderr):
  throughput  one MLM training step of the reference configuration (PreLN, 4 blocks, hidden 128,
              seq 128, batch 16, vocab 1000) and of the small preset's model: ms/step, tokens/s,
              GMAC/s as a fraction of cblas_sgemm alone at the step's shapes (the roofline,
              measured in the same run), tfjs kernel calls per step and the time per phase, for
              tfjs wasm with the native kernels, tfjs wasm with its own kernels only, and PyTorch
              when \`import torch\` works (PLD_PYTHON picks the interpreter), at each thread count,
              with the ratio to PyTorch.
  pld         PostLN, PreLN and PreLN with fixed θ ∈ {1, 0.75, 0.5} on a 12-block model: measured
              speedup of dropping blocks against the ideal 1 / E[fraction of blocks run].
  --steps N         timed steps per measurement (default 20)
  --threads LIST    thread counts for the throughput tables, e.g. 1,2 (default: 1 and all cores)
  --backend B       tensorflow | webgpu | wasm | cpu (default: best available; env PLD_BACKEND)
  --only WHICH      throughput or pld (default: both)
  --no-torch        skip the PyTorch rows
  --quick           smoke run: small models, 2 steps (checks that everything runs; the numbers mean nothing)
  --gpu             the GPU check instead (docs/gpu.md): the WebGPU adapter, 3-step loss parity of
                    webgpu against wasm, ms/step and tokens/s of the reference step and of the base
                    model at batch 32 × 128 on both, GPU memory; exits 1 when the losses disagree
                    (a software adapter only with PLD_BACKEND=webgpu)
  --no-base         --gpu without the base model (seconds instead of minutes)`;

const HELP = `pld — Progressive Layer Dropping reproduction kit

  pld pretrain   pretrain a PostLN / PreLN / PreLN+PLD BERT      (pld pretrain --help)
  pld finetune   fine-tune checkpoints on GLUE or the offline suite (pld finetune --help)
  pld bench      throughput and PLD-speedup tables                 (pld bench --help)
  pld info       backend, devices, versions
  pld export-data  the packed corpus as shards for the PyTorch twin  (pld export-data --help)
  pld export     a checkpoint as a Hugging Face folder (--hf DIR)    (pld export --help)`;

async function cmdPretrain(args: string[]): Promise<void> {
  const f = parseFlags(args, {
    variant: 'value',
    preset: 'value',
    config: 'value',
    out: 'value',
    resume: 'switch',
    seed: 'value',
    lr: 'value',
    steps: 'value',
    theta: 'value',
    gamma: 'value',
    corpus: 'value',
    vocab: 'value',
    backend: 'value',
    threads: 'value',
    quiet: 'switch',
    help: 'switch',
  });
  if (f.has('help')) return void console.log(PRETRAIN_HELP);
  const variant = stringFlag(f, 'variant');
  if (!variant) throw new Error(`--variant is required; use one of ${VARIANTS.join(', ')}`);
  const overrides: RunOverrides[] = [];
  const file = stringFlag(f, 'config');
  if (file) overrides.push(readConfigFile(file));
  const flagOverrides = checkOverrides(
    {
      ...(numberFlag(f, 'seed') !== undefined ? { seed: numberFlag(f, 'seed') } : {}),
      optim: { ...(numberFlag(f, 'lr') !== undefined ? { lr: numberFlag(f, 'lr') } : {}) },
      train: { ...(numberFlag(f, 'steps') !== undefined ? { steps: numberFlag(f, 'steps') } : {}) },
      schedule: {
        ...(numberFlag(f, 'theta') !== undefined ? { thetaBar: numberFlag(f, 'theta') } : {}),
        ...(numberFlag(f, 'gamma') !== undefined ? { gamma: numberFlag(f, 'gamma') } : {}),
      },
      data: {
        ...(stringFlag(f, 'corpus') ? { folder: stringFlag(f, 'corpus') } : {}),
        ...(stringFlag(f, 'vocab') ? { vocab: stringFlag(f, 'vocab') } : {}),
      },
    },
    'command-line flags',
  );
  overrides.push(flagOverrides);
  const preset = stringFlag(f, 'preset') ?? 'small';
  resolveConfig(variant, preset, ...overrides); // validate before any work
  const r = await pretrain({
    variant,
    preset,
    overrides,
    out: stringFlag(f, 'out'),
    resume: f.has('resume'),
    backend: backendFlag(f),
    threads: wholeNumberFlag(f, 'threads'),
    quiet: f.has('quiet'),
  });
  const acc = r.manifest.finalValAccuracy;
  console.log(
    `${r.config.variant}: ${r.manifest.status}; final validation loss ${r.finalValLoss?.toFixed(4) ?? 'n/a'} (unigram line ${r.manifest.reference.unigramLoss.toFixed(4)}), masked accuracy ${acc === null ? 'n/a' : `${(100 * acc).toFixed(1)} %`}; ${r.trainSeconds.toFixed(1)} s training; results in ${r.out}`,
  );
}

async function cmdInfo(args: string[]): Promise<void> {
  const f = parseFlags(args, { backend: 'value', threads: 'value', help: 'switch' });
  if (f.has('help')) return void console.log(INFO_HELP);
  const b = await initBackend({ backend: backendFlag(f), threads: wholeNumberFlag(f, 'threads') });
  console.log(`backend:  ${describeBackend(b)}`);
  console.log(`package:  ${b.package}`);
  console.log(`gpu:      ${b.gpu ? 'yes' : 'no'}`);
  if (b.adapter)
    console.log(
      `adapter:  ${describeAdapter(b.adapter)}; device ${b.adapter.device || 'unnamed'}; webgpu ${b.adapter.dawnNode}`,
    );
  if (b.backend === 'wasm')
    console.log(
      `kernels:  ${b.native ? `native: ${b.native.blas}, ${b.native.threads} thread(s)` : 'wasm only (PLD_NATIVE=0 or the addon is not built)'}`,
    );
  console.log(`node:     ${process.version}`);
  if (b.skipped.length) console.log(`skipped:  ${b.skipped.join('; ')}`);
  if (b.backend !== 'tensorflow')
    console.log(
      'tfjs-node: optional; its install downloads libtensorflow 2.9.1, which Google no longer serves (tensorflow/tfjs#8742): see docs/gpu.md',
    );
}

async function cmdBench(args: string[]): Promise<void> {
  const f = parseFlags(args, {
    steps: 'value',
    backend: 'value',
    threads: 'value',
    only: 'value',
    'no-torch': 'switch',
    quick: 'switch',
    gpu: 'switch',
    'no-base': 'switch',
    help: 'switch',
  });
  if (f.has('help')) return void console.log(BENCH_HELP);
  if (f.has('gpu')) {
    const other = ['backend', 'threads', 'only', 'no-torch'].filter((k) => f.has(k));
    if (other.length) throw new Error(`--gpu compares webgpu with wasm by itself; drop --${other.join(', --')}`);
    const r = await runGpuCheck({
      steps: wholeNumberFlag(f, 'steps') ?? 10,
      base: !f.has('no-base'),
      log: (s) => console.error(s),
    });
    console.log(gpuCheckReport(r));
    if (!r.parity.ok)
      throw new Error(
        `webgpu and wasm losses differ by ${r.parity.maxRelDiff.toExponential(2)} (over ${PARITY_TOLERANCE}); please report it with the table above`,
      );
    return;
  }
  if (f.has('no-base')) throw new Error('--no-base goes with --gpu');
  const only = stringFlag(f, 'only') ?? 'all';
  if (only !== 'all' && only !== 'throughput' && only !== 'pld')
    throw new Error(`--only must be throughput or pld, got '${only}'`);
  const quick = f.has('quick');
  const steps = wholeNumberFlag(f, 'steps') ?? (quick ? 2 : 20);
  const threads = wholeNumberListFlag(f, 'threads') ?? [...new Set([1, defaultWasmThreads()])];
  const report = await runBenchmarks({
    backend: backendFlag(f),
    threads,
    steps,
    torch: !f.has('no-torch') && !quick,
    which: only,
    quick,
    log: (s) => console.error(s),
  });
  console.log(report);
}

export async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  try {
    switch (cmd) {
      case 'pretrain':
        await cmdPretrain(rest);
        break;
      case 'finetune':
        if (rest.includes('--help')) console.log(FINETUNE_HELP);
        else await finetuneCommand(rest);
        break;
      case 'bench':
        await cmdBench(rest);
        break;
      case 'info':
        await cmdInfo(rest);
        break;
      case 'export-data':
        exportDataCommand(rest);
        break;
      case 'export':
        exportCommand(rest);
        break;
      case undefined:
      case '--help':
      case 'help':
        console.log(HELP);
        break;
      default:
        throw new Error(
          `unknown command '${cmd}'; use pretrain, finetune, bench, info, export-data or export (pld --help)`,
        );
    }
    return 0;
  } catch (e) {
    console.error(`pld ${cmd ?? ''}: ${e instanceof Error ? e.message : String(e)}`.replace(/\s+:/, ':'));
    return 1;
  }
}

if (require.main === module) {
  main(process.argv.slice(2)).then((code) => {
    process.exit(code); // wasm pthread workers must not keep the process alive
  });
}
