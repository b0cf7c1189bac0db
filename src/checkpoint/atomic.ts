/**
 * Crash-safe writes. A file is written to a temporary name in the same directory, fsynced, and
 * renamed over the target (rename is atomic on POSIX), then the directory is fsynced so the rename
 * itself survives a power cut. Killing the process at any moment leaves either the old or the new
 * content, never a mix.
 */
import * as fs from 'fs';
import * as path from 'path';
import * as crypto from 'crypto';

function tmpName(target: string): string {
  return path.join(path.dirname(target), `.${path.basename(target)}.${process.pid}.${crypto.randomBytes(4).toString('hex')}.tmp`);
}

function fsyncDir(dir: string): void {
  const fd = fs.openSync(dir, 'r');
  try {
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

function reason(e: unknown): string {
  const err = e as NodeJS.ErrnoException;
  const why: Record<string, string> = { EACCES: 'permission denied', EROFS: 'read-only file system', ENOTDIR: 'a parent is not a directory', ENOSPC: 'no space left', EPERM: 'operation not permitted' };
  return err.code ? `${why[err.code] ?? err.code} (${err.code})` : String(e);
}

/** Best-effort removal of a temporary file or directory (its parent may not even exist). */
function discard(p: string): void {
  try {
    fs.rmSync(p, { recursive: true, force: true });
  } catch {
    // nothing was created there
  }
}

function writeSynced(file: string, data: Buffer | string): void {
  const fd = fs.openSync(file, 'w');
  try {
    fs.writeFileSync(fd, data);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

/** Atomically replaces `target` with `data`. */
export function writeFileAtomic(target: string, data: Buffer | string): void {
  const tmp = tmpName(target);
  try {
    writeSynced(tmp, data);
    fs.renameSync(tmp, target);
    fsyncDir(path.dirname(target));
  } catch (e) {
    discard(tmp);
    throw new Error(`cannot write ${target}: ${reason(e)}; choose another output directory`);
  }
}

/**
 * Atomically replaces directory `dir` with one holding `files`. Steps: write everything into a
 * fresh sibling `dir.tmp-*` and fsync it; move the old `dir` (if any) to `dir.old`; rename the new
 * one into place; remove `dir.old`. A crash before the second rename leaves the old directory
 * (or `dir.old`, which `recoverDir` restores); after it, the new one. Never a half-written `dir`.
 */
export function writeDirAtomic(dir: string, files: Record<string, Buffer | string>): void {
  const parent = path.dirname(dir);
  const tmp = `${dir}.tmp-${process.pid}-${crypto.randomBytes(4).toString('hex')}`;
  const old = `${dir}.old`;
  try {
    recoverDir(dir);
    fs.mkdirSync(tmp, { recursive: true });
    for (const [name, data] of Object.entries(files)) writeSynced(path.join(tmp, name), data);
    fsyncDir(tmp);
    fs.rmSync(old, { recursive: true, force: true });
    if (fs.existsSync(dir)) fs.renameSync(dir, old);
    fs.renameSync(tmp, dir);
    fsyncDir(parent);
    fs.rmSync(old, { recursive: true, force: true });
  } catch (e) {
    discard(tmp);
    throw new Error(`cannot write checkpoint ${dir}: ${reason(e)}; choose another --out`);
  }
}

/** After a crash between the two renames of writeDirAtomic, puts the previous directory back. */
export function recoverDir(dir: string): void {
  const old = `${dir}.old`;
  if (!fs.existsSync(dir) && fs.existsSync(old)) fs.renameSync(old, dir);
  for (const f of fs.existsSync(path.dirname(dir)) ? fs.readdirSync(path.dirname(dir)) : []) {
    if (f.startsWith(`${path.basename(dir)}.tmp-`)) fs.rmSync(path.join(path.dirname(dir), f), { recursive: true, force: true });
  }
}

/** Creates `dir` if needed and proves it is writable, with a one-line error otherwise. */
export function checkWritableDir(dir: string): void {
  try {
    fs.mkdirSync(dir, { recursive: true });
    const probe = path.join(dir, `.write-test-${process.pid}`);
    fs.writeFileSync(probe, '');
    fs.rmSync(probe);
  } catch (e) {
    throw new Error(`output directory ${dir} is not writable: ${reason(e)}; choose another --out`);
  }
}
