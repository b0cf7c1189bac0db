/** What every result records about where and how it was produced. */
import { execFileSync } from 'child_process';
import * as os from 'os';
import * as path from 'path';
import { BackendInfo } from '../backend';
import { kitRoot } from './paths';

export interface Environment {
  kitVersion: string;
  node: string;
  tfjs: string;
  backend: BackendInfo;
  gitCommit: string | null;
  cpu: string;
  cores: number;
  memoryGiB: number;
}

/** Commit of the kit's checkout (with `-dirty` when it has uncommitted changes), or null outside git. */
export function gitCommit(): string | null {
  const cwd = kitRoot();
  try {
    const head = execFileSync('git', ['rev-parse', 'HEAD'], { cwd, stdio: ['ignore', 'pipe', 'ignore'] })
      .toString()
      .trim();
    const dirty = execFileSync('git', ['status', '--porcelain', '--untracked-files=no'], {
      cwd,
      stdio: ['ignore', 'pipe', 'ignore'],
    })
      .toString()
      .trim();
    return dirty ? `${head}-dirty` : head;
  } catch {
    return null;
  }
}

export function kitVersion(): string {
  return (require(path.join(kitRoot(), 'package.json')) as { version: string }).version;
}

export function environment(backend: BackendInfo): Environment {
  return {
    kitVersion: kitVersion(),
    node: process.version,
    tfjs: backend.tfjsVersion,
    backend,
    gitCommit: gitCommit(),
    cpu: os.cpus()[0]?.model ?? 'unknown',
    cores: os.availableParallelism(),
    memoryGiB: Math.round(os.totalmem() / 2 ** 30),
  };
}
