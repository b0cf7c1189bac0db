/**
 * Reuse from another project: `npm pack` the kit, install the tarball into a new project (with the
 * kit's `overrides`, which npm applies only at a project's root), compile a short TypeScript script
 * against the installed types and run it: gates from the schedule, a 3-step training run, and the
 * run read back with loadRun. Installs from npm's cache first (--prefer-offline).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { kitRoot } from '../src/util/paths';

const ROOT = kitRoot();
const TSC = path.join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
const haveNpm = spawnSync('npm', ['--version'], { encoding: 'utf8' }).status === 0;

const SCRIPT = `import { PLD_DEFAULT, Rng, loadRun, pretrain, sampleGates, type StepRecord } from 'pld-kit';

async function main(): Promise<void> {
  const gates = sampleGates(PLD_DEFAULT, 12, 5000, new Rng(1));
  const r = await pretrain({ variant: 'preln-pld', preset: 'quick', out: 'run', quiet: true, backend: 'wasm', threads: 1, overrides: [{ train: { steps: 3, evalEvery: 3 } }] });
  const first: StepRecord = r.steps[0];
  const run = loadRun(r.out);
  console.log(JSON.stringify({ gates: gates.keep.length, finished: r.finished, theta: first.theta, steps: run.steps.shape[0], evals: run.evals.shape[0] }));
}
main().catch((e: unknown) => {
  console.error(e instanceof Error ? e.message : e);
  process.exit(1);
});
`;

/** A script that misuses the API: the kit's types must reject it. */
const WRONG = `import { pretrain } from 'pld-kit';
void pretrain({ variant: 'preln-pld', steps: 3 });
`;

function run(cmd: string, args: string[], cwd: string): string {
  const r = spawnSync(cmd, args, {
    cwd,
    encoding: 'utf8',
    env: { ...process.env, npm_config_audit: 'false', npm_config_fund: 'false', npm_config_update_notifier: 'false' },
    maxBuffer: 64 << 20,
  });
  assert.equal(r.status, 0, `${cmd} ${args.join(' ')} failed in ${cwd}:\n${(r.stderr || r.stdout).slice(-3000)}`);
  return r.stdout;
}

test(
  'the packed kit installs into a new project and works from TypeScript',
  { skip: haveNpm ? false : 'npm not found', timeout: 900_000 },
  () => {
    assert.ok(fs.existsSync(path.join(ROOT, 'dist', 'src', 'index.d.ts')), 'the kit is built (npm run build)');
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pld-pack-'));
    try {
      // dist/ is already built by the test run, so the pack skips `prepare` (which builds it).
      const packed = JSON.parse(
        run('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', dir], ROOT),
      ) as { filename: string; files: { path: string }[] }[];
      const files = packed[0].files.map((f) => f.path);
      assert.ok(
        files.includes('dist/src/index.js') &&
          files.includes('dist/src/index.d.ts') &&
          files.includes('data/vocab.txt'),
        'the code, its types and the vocabulary are packed',
      );
      assert.deepEqual(
        files.filter((f) => /^(test|notebooks|figures|runs|dist\/test|native\/build)\//.test(f)),
        [],
        'no tests, notebooks, figures, runs or local builds',
      );

      const proj = path.join(dir, 'project');
      fs.mkdirSync(proj);
      const kit = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { overrides: unknown };
      fs.writeFileSync(
        path.join(proj, 'package.json'),
        JSON.stringify(
          {
            name: 'pld-user',
            version: '1.0.0',
            private: true,
            dependencies: { 'pld-kit': `file:../${packed[0].filename}` },
            overrides: kit.overrides,
          },
          null,
          1,
        ),
      );
      run('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', '--loglevel=error'], proj);

      // A user's tsconfig as `tsc --init` writes it (strict, skipLibCheck); Node's types from the kit's checkout.
      fs.writeFileSync(
        path.join(proj, 'tsconfig.json'),
        JSON.stringify({
          compilerOptions: {
            target: 'es2022',
            module: 'commonjs',
            strict: true,
            esModuleInterop: true,
            skipLibCheck: true,
            types: ['node'],
            typeRoots: [path.join(ROOT, 'node_modules', '@types')],
          },
          files: ['main.ts'],
        }),
      );
      fs.writeFileSync(path.join(proj, 'main.ts'), SCRIPT);
      run(process.execPath, [TSC, '-p', '.'], proj);
      const out = JSON.parse(run(process.execPath, ['main.js'], proj).trim().split('\n').pop() ?? '') as Record<
        string,
        unknown
      >;
      assert.deepEqual(out, { gates: 12, finished: true, theta: 1, steps: 3, evals: 1 });

      fs.writeFileSync(path.join(proj, 'main.ts'), WRONG);
      const bad = spawnSync(process.execPath, [TSC, '-p', '.'], { cwd: proj, encoding: 'utf8' });
      assert.equal(bad.status, 2, 'a misused option is a type error');
      assert.match(
        bad.stdout,
        /main\.ts\(2,\d+\): error TS2353: Object literal may only specify known properties, and 'steps' does not exist in type 'PretrainOptions'/,
      );
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  },
);
