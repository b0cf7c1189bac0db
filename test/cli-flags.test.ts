/** The one flag parser behind every `pld` command: the same checks and the same error lines everywhere. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { parseFlags, wholeNumberFlag } from '../src/cli/flags';

const CLI = path.join(__dirname, '..', 'src', 'cli', 'index.js');

function run(args: string[]): { status: number | null; err: string } {
  const r = spawnSync(process.execPath, [CLI, ...args], {
    encoding: 'utf8',
    env: { ...process.env, PLD_THREADS: '1' },
  });
  return { status: r.status, err: r.stderr.trim() };
}

test('--threads is a whole number >= 1 in pretrain, finetune and info, with one error line', () => {
  const cases: [string, string[]][] = [
    ['pretrain', ['--variant', 'preln', '--preset', 'quick']],
    ['finetune', ['--checkpoint', 'runs/none']],
    ['info', []],
  ];
  for (const [cmd, rest] of cases) {
    for (const bad of ['0', '1.5', 'two']) {
      assert.deepEqual(run([cmd, ...rest, '--threads', bad]), {
        status: 1,
        err: `pld ${cmd}: --threads must be a whole number >= 1, got '${bad}'`,
      });
    }
  }
});

test('--backend is checked by the backend chain: one error line naming the flag', () => {
  for (const cmd of ['pretrain', 'info']) {
    const rest =
      cmd === 'pretrain'
        ? ['--variant', 'preln', '--preset', 'quick', '--steps', '1', '--out', path.join(__dirname, 'never-written')]
        : [];
    assert.deepEqual(run([cmd, ...rest, '--backend', 'abacus']), {
      status: 1,
      err: `pld ${cmd}: unknown backend 'abacus' in --backend; use one of tensorflow, webgpu, wasm, cpu`,
    });
  }
  assert.deepEqual(run(['finetune', '--checkpoint', 'runs/none', '--backend', 'abacus']), {
    status: 1,
    err: "pld finetune: unknown backend 'abacus' in --backend; use one of tensorflow, webgpu, wasm, cpu",
  });
});

test('parseFlags: values, switches and = forms; unknown and valueless flags are one line each', () => {
  const f = parseFlags(['--steps', '3', '--quiet', '--threads=2'], {
    steps: 'value',
    quiet: 'switch',
    threads: 'value',
  });
  assert.deepEqual(
    [...f],
    [
      ['steps', '3'],
      ['quiet', true],
      ['threads', '2'],
    ],
  );
  assert.equal(wholeNumberFlag(f, 'threads'), 2);
  assert.throws(() => parseFlags(['--nope'], { steps: 'value' }), { message: 'unknown option --nope; known: --steps' });
  assert.throws(() => parseFlags(['--steps'], { steps: 'value' }), { message: '--steps needs a value' });
  assert.throws(() => parseFlags(['--quiet=1'], { quiet: 'switch' }), { message: '--quiet takes no value' });
  assert.throws(() => parseFlags(['3'], { steps: 'value' }), {
    message: "unexpected argument '3'; options start with --",
  });
});
