/**
 * Crash-safe writes.
 *
 * Files: `writeFileAtomic` writes to `.<name>.<pid>.<random>.tmp` in the target's directory,
 * fsyncs it, renames it over the target (atomic on POSIX) and fsyncs the directory so the rename
 * itself survives a power cut. Killing the process at any moment leaves the old or the new
 * content, never a mix. A SIGKILL can leave the temp file behind; `removeStaleTemps` deletes those
 * whose writer is dead.
 *
 * Directories (a checkpoint is several files that must match): `writeDirAtomic(dir, files)`
 *   1. writes every file into a fresh sibling `<dir>.tmp-<pid>-<random>`, fsyncs each and the dir;
 *   2. if `dir` exists, renames it to the backup `<dir>.old`;
 *   3. renames the temp directory to `dir`, fsyncs the parent;
 *   4. removes `<dir>.old`.
 * Crash windows and what is on disk afterwards:
 *   during 1:        `dir` (old, intact) + a partial `<dir>.tmp-*`      -> readers use `dir`
 *   between 2 and 3: no `dir`, `<dir>.old` (old, intact) + a full tmp  -> readers use `<dir>.old`
 *   between 3 and 4: `dir` (new, complete) + `<dir>.old`               -> readers use `dir`
 * So a reader never sees a half-written `dir`: it calls `resolveCheckpointDir(dir)`, which returns
 * `dir` if it exists, else `<dir>.old` if that exists (the one window where only the backup is
 * left), else null. The next writer first calls `recoverDir`, which moves a lone backup back into
 * place and deletes leftovers (stale backups, temp directories of dead processes).
 * Writers of one checkpoint directory must not run concurrently.
 */
import * as fs from 'fs';
import * as path from 'path';
import * as crypto from 'crypto';

/** What can be written: text (UTF-8), bytes, or a list of byte chunks written back to back. */
export type FileContent = string | Uint8Array | readonly Uint8Array[];

const WHY: Record<string, string> = {
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  EROFS: 'read-only file system',
  ENOTDIR: 'a parent is not a directory',
  ENOENT: 'a parent directory does not exist',
  ENOSPC: 'no space left on device',
  EDQUOT: 'disk quota exceeded',
  EISDIR: 'the target is a directory',
  EEXIST: 'it exists and is not a directory',
  EBUSY: 'the target is busy',
  EXDEV: 'cross-device rename',
  EMFILE: 'too many open files',
};

/** 'permission denied (EACCES)' — the short reason used in every one-line error here. */
export function errnoReason(e: unknown): string {
  const err = e as NodeJS.ErrnoException;
  if (err && typeof err.code === 'string') return `${WHY[err.code] ?? err.code.toLowerCase()} (${err.code})`;
  return (e instanceof Error ? e.message : String(e)).split('\n')[0];
}

function hint(e: unknown): string {
  const code = (e as NodeJS.ErrnoException)?.code;
  return code === 'ENOSPC' || code === 'EDQUOT'
    ? 'free some space or choose another output directory'
    : 'choose another output directory';
}

function unique(): string {
  return `${process.pid}.${crypto.randomBytes(4).toString('hex')}`;
}

function tmpFileName(target: string): string {
  return path.join(path.dirname(target), `.${path.basename(target)}.${unique()}.tmp`);
}

/** fsync a directory so renames and creations inside it are durable (a no-op on Windows, which cannot). */
function fsyncDir(dir: string): void {
  if (process.platform === 'win32') return;
  const fd = fs.openSync(dir, 'r');
  try {
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

/** Best-effort removal (the thing, or even its parent, may not exist). */
function discard(p: string): void {
  try {
    fs.rmSync(p, { recursive: true, force: true });
  } catch {
    // nothing to clean up, or nothing we can do
  }
}

function writeAll(fd: number, chunk: Uint8Array): void {
  let off = 0;
  while (off < chunk.byteLength) off += fs.writeSync(fd, chunk, off, chunk.byteLength - off);
}

/** Creates `file` (which must not exist), writes `data`, fsyncs and closes it. */
function writeSynced(file: string, data: FileContent, mode?: number): void {
  const fd = fs.openSync(file, 'wx', mode ?? 0o666);
  try {
    if (typeof data === 'string') writeAll(fd, Buffer.from(data, 'utf8'));
    else if (data instanceof Uint8Array) writeAll(fd, data);
    else if (Array.isArray(data)) {
      for (const chunk of data) {
        if (!(chunk instanceof Uint8Array))
          throw new TypeError(`file content chunks must be Uint8Array/Buffer, got ${typeof chunk}`);
        writeAll(fd, chunk);
      }
    } else
      throw new TypeError(`file content must be a string, a Uint8Array/Buffer or an array of them, got ${typeof data}`);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

/** Atomically replaces `target` with `data` (the file keeps its permission bits if it existed). */
export function writeFileAtomic(target: string, data: FileContent): void {
  const tmp = tmpFileName(target);
  try {
    let mode: number | undefined;
    try {
      mode = fs.statSync(target).mode & 0o7777;
    } catch {
      // new file: default mode
    }
    writeSynced(tmp, data, mode);
    fs.renameSync(tmp, target);
    fsyncDir(path.dirname(target));
  } catch (e) {
    discard(tmp);
    throw new Error(`cannot write ${target}: ${errnoReason(e)}; ${hint(e)}`, { cause: e });
  }
}

/** Name of the backup `writeDirAtomic` keeps while swapping directories. */
export function backupDirName(dir: string): string {
  return `${stripSlash(dir)}.old`;
}

function stripSlash(dir: string): string {
  const s = dir.replace(/[\\/]+$/, '');
  return s === '' ? dir : s;
}

/** What follows `<dir>.tmp-` in writeDirAtomic's temp directories: `<pid>-<hex>`. */
const TMP_DIR_TAIL = /^(\d+)-[0-9a-f]+$/;
const TMP_FILE = /^\.(.+)\.(\d+)\.[0-9a-f]+\.tmp$/;

function alive(pid: number): boolean {
  if (pid === process.pid) return false; // this process is not inside a (synchronous) write right now
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * For readers: the directory holding the newest complete checkpoint — `dir`, or its backup when
 * a writer died between its two renames — or null when there is none. Changes nothing on disk.
 */
export function resolveCheckpointDir(dir: string): string | null {
  const d = stripSlash(dir);
  if (fs.existsSync(d)) return d;
  const old = backupDirName(d);
  return fs.existsSync(old) ? old : null;
}

/**
 * For writers, after a crash: puts a lone backup back in place, removes a stale backup next to a
 * complete `dir`, and removes temp directories of dead writers. Returns `resolveCheckpointDir(dir)`.
 */
export function recoverDir(dir: string): string | null {
  const d = stripSlash(dir);
  const parent = path.dirname(d);
  const old = backupDirName(d);
  if (fs.existsSync(old)) {
    if (fs.existsSync(d)) fs.rmSync(old, { recursive: true, force: true });
    else fs.renameSync(old, d);
    fsyncDir(parent);
  }
  let names: string[] = [];
  try {
    names = fs.readdirSync(parent);
  } catch {
    // no parent: nothing to clean
  }
  const prefix = `${path.basename(d)}.tmp-`;
  for (const f of names) {
    const m = f.startsWith(prefix) ? TMP_DIR_TAIL.exec(f.slice(prefix.length)) : null;
    if (m && !alive(Number(m[1]))) discard(path.join(parent, f));
  }
  return resolveCheckpointDir(d);
}

/** Removes `.<name>.<pid>.<hex>.tmp` files left in `dir` by writeFileAtomic calls that were killed. Returns their names. */
export function removeStaleTemps(dir: string): string[] {
  const removed: string[] = [];
  let names: string[];
  try {
    names = fs.readdirSync(dir);
  } catch {
    return removed;
  }
  for (const f of names) {
    const m = TMP_FILE.exec(f);
    if (m && !alive(Number(m[2]))) {
      discard(path.join(dir, f));
      removed.push(f);
    }
  }
  return removed;
}

/**
 * Atomically replaces directory `dir` with one holding exactly `files` (plain names, no
 * subdirectories). See the module comment for the crash windows and how readers recover.
 */
export function writeDirAtomic(dir: string, files: Record<string, FileContent>): void {
  const d = stripSlash(dir);
  const parent = path.dirname(d);
  const tmp = `${d}.tmp-${unique().replace('.', '-')}`;
  const old = backupDirName(d);
  for (const name of Object.keys(files)) {
    if (name === '' || name === '.' || name === '..' || /[\\/]/.test(name))
      throw new Error(`cannot write checkpoint ${dir}: invalid file name ${JSON.stringify(name)}`);
  }
  try {
    recoverDir(d);
    if (fs.existsSync(d) && !fs.statSync(d).isDirectory()) {
      throw Object.assign(new Error('exists'), { code: 'EEXIST' });
    }
    fs.mkdirSync(tmp);
    for (const [name, data] of Object.entries(files)) writeSynced(path.join(tmp, name), data);
    fsyncDir(tmp);
    const hadOld = fs.existsSync(d);
    if (hadOld) fs.renameSync(d, old);
    fs.renameSync(tmp, d);
    fsyncDir(parent);
    if (hadOld) fs.rmSync(old, { recursive: true, force: true });
  } catch (e) {
    discard(tmp);
    throw new Error(
      `cannot write checkpoint ${dir}: ${errnoReason(e)}; ${hint(e).replace('output directory', '--out')}`,
      { cause: e },
    );
  }
}

/** Creates `dir` if needed and proves it is writable (creates and removes a probe file), with a one-line error otherwise. */
export function checkWritableDir(dir: string): void {
  const probe = path.join(dir, `.write-test-${unique()}`);
  try {
    fs.mkdirSync(dir, { recursive: true });
    if (!fs.statSync(dir).isDirectory()) throw Object.assign(new Error('exists'), { code: 'EEXIST' });
    writeSynced(probe, '');
    fs.rmSync(probe);
  } catch (e) {
    discard(probe);
    throw new Error(`output directory ${dir} is not writable: ${errnoReason(e)}; choose another --out`, { cause: e });
  }
}
