/**
 * Progress reporting: a redrawn bar with ETA and current loss on a terminal; plain periodic lines
 * elsewhere (CI logs, notebooks), where carriage returns would pile up.
 */
export interface Progress {
  update(step: number, info: { loss: number; extra?: string }): void;
  line(text: string): void;
  done(): void;
}

function fmtTime(s: number): string {
  if (!Number.isFinite(s)) return '--:--';
  const m = Math.floor(s / 60);
  const sec = Math.floor(s % 60);
  return m >= 60 ? `${Math.floor(m / 60)}h${String(m % 60).padStart(2, '0')}m` : `${m}:${String(sec).padStart(2, '0')}`;
}

export function createProgress(label: string, total: number, start: number, stream: NodeJS.WriteStream = process.stderr, quiet = false): Progress {
  const tty = Boolean(stream.isTTY) && !process.env.CI;
  const t0 = Date.now();
  let lastPrint = 0;
  const eta = (step: number): number => {
    const done = step + 1 - start;
    return done > 0 ? (((Date.now() - t0) / 1000) * (total - step - 1)) / done : Infinity;
  };
  return {
    update(step, { loss, extra }) {
      if (quiet) return;
      const msg = `${label} step ${step + 1}/${total} loss ${loss.toFixed(4)}${extra ? ' ' + extra : ''} ETA ${fmtTime(eta(step))}`;
      if (tty) {
        const width = 24;
        const fill = Math.round((width * (step + 1)) / total);
        stream.write(`\r[${'#'.repeat(fill)}${'.'.repeat(width - fill)}] ${msg}\x1b[K`);
        return;
      }
      // Plain lines: every 10 % of the run or every 30 s, and at the end.
      const now = Date.now();
      const tenth = Math.max(1, Math.floor(total / 10));
      if ((step + 1) % tenth === 0 || step + 1 === total || now - lastPrint > 30000) {
        lastPrint = now;
        stream.write(msg + '\n');
      }
    },
    line(text) {
      if (quiet) return;
      stream.write(tty ? `\r${text}\x1b[K\n` : text + '\n');
    },
    done() {
      if (tty && !quiet) stream.write('\n');
    },
  };
}
