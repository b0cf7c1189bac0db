/**
 * Progress reporting, one per run:
 *   - in a notebook (tslab kernel): one output updated in place (`update_display_data`) with a
 *     bar, step, loss, the extra fields (θ, blocks run), ETA, the run's first line and its latest;
 *   - on a terminal: a redrawn bar with ETA and current loss;
 *   - elsewhere (CI logs, files): plain lines every 10 % of the run, where carriage returns would
 *     pile up.
 */
import { liveDisplay } from '../plots/display';

export interface Progress {
  update(step: number, info: { loss: number; extra?: string }): void;
  line(text: string): void;
  /**
   * Lets the event loop run when a notebook display was just updated, so the kernel sends it while
   * a synchronous training loop is still going (a resolved promise otherwise).
   */
  flush(): Promise<void>;
  done(): void;
}

function fmtTime(s: number): string {
  if (!Number.isFinite(s)) return '--:--';
  const m = Math.floor(s / 60);
  const sec = Math.floor(s % 60);
  return m >= 60 ? `${Math.floor(m / 60)}h${String(m % 60).padStart(2, '0')}m` : `${m}:${String(sec).padStart(2, '0')}`;
}

const esc = (s: string): string => s.replace(/[<>&]/g, (c) => `&#${c.charCodeAt(0)};`);

/** Minimum time between two in-place updates of a notebook display. */
const NOTEBOOK_UPDATE_MS = 500;

/** The notebook form: one display, replaced at most every 0.5 s and at the last step. */
function notebookProgress(
  label: string,
  total: number,
  start: number,
  display: NonNullable<ReturnType<typeof liveDisplay>>,
): Progress {
  const t0 = Date.now();
  let first = '';
  let latest = '';
  let status = `${label}: starting`;
  let fraction = start / total;
  let last = 0;
  let pending = false;
  let shown = false;
  const render = (): void => {
    const lines = [first, status, latest].filter(Boolean);
    const bar = `<progress value="${fraction.toFixed(4)}" max="1" style="width:24em"></progress>`;
    const data = {
      'text/html': `<div class="pld-progress">${bar}<pre style="margin:0.3em 0 0 0">${lines.map(esc).join('\n')}</pre></div>`,
      'text/plain': lines.join('\n'),
    };
    if (shown) display.update(data);
    else display.show(data);
    shown = true;
    pending = true;
  };
  return {
    update(step, { loss, extra }) {
      const done = step + 1 - start;
      const eta = done > 0 ? (((Date.now() - t0) / 1000) * (total - step - 1)) / done : Infinity;
      fraction = (step + 1) / total;
      status = `${label} step ${step + 1}/${total} · loss ${loss.toFixed(4)}${extra ? ' · ' + extra : ''} · ETA ${fmtTime(eta)}`;
      const now = Date.now();
      if (now - last >= NOTEBOOK_UPDATE_MS || step + 1 === total) {
        last = now;
        render();
      }
    },
    line(text) {
      if (!first) first = text;
      else latest = text;
      render();
    },
    flush() {
      if (!pending) return Promise.resolve();
      pending = false;
      return new Promise((resolve) => setImmediate(resolve));
    },
    done() {
      render();
    },
  };
}

/**
 * The progress of one run. Inside a tslab kernel it is a display updated in place (unless `stream`
 * is a terminal, i.e. the caller asked for one explicitly); `quiet` shows nothing.
 */
export function createProgress(
  label: string,
  total: number,
  start: number,
  stream: NodeJS.WriteStream = process.stderr,
  quiet = false,
): Progress {
  const display = quiet || stream.isTTY ? null : liveDisplay();
  if (display) return notebookProgress(label, total, start, display);
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
    flush: () => Promise.resolve(),
    done() {
      if (tty && !quiet) stream.write('\n');
    },
  };
}
