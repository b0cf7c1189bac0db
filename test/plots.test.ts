/**
 * Figure builders (trace counts, axis titles, values passed through, variant colours) and export
 * (PNG signature, SVG text, self-contained HTML). Export tests skip, saying why, without Chromium.
 */
import { after, describe, test } from 'node:test';
import { close } from './helpers';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {
  FigureExporter,
  chromiumPath,
  closeExporter,
  exportFigure,
  figureHtml,
  haveChromium,
  plotlyBundle,
  plotlyVersion,
} from '../src/plots/export';
import {
  VARIANT_COLORS,
  barFigure,
  depthRuleFigure,
  expectedDepthFigure,
  finetuneFigure,
  gradNormFigure,
  keepProbHeatmap,
  lineFigure,
  logAxis,
  lrRobustnessFigure,
  speedupFigures,
  thetaFigure,
  thinLines,
  variantColor,
} from '../src/plots/figures';
import { Figure } from '../src/plots/types';
import { secondsToReach } from '../src/experiments/analysis';
import {
  figureHtmlOutput,
  figureSlug,
  frameRows,
  htmlRows,
  markdownHtml,
  markdownRows,
  plotlyLoaderBundle,
} from '../src/plots/notebook';
import { createProgress } from '../src/train/progress';

const PNG_SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];

const gradRuns = [
  {
    label: 'PostLN',
    steps: [10, 200],
    norms: [
      [0.01, 0.1, 1],
      [0.02, 0.2, 0.9],
    ],
  },
  {
    label: 'PreLN',
    steps: [10, 200],
    norms: [
      [0.5, 0.5, 0.6],
      [0.4, 0.45, 0.5],
    ],
  },
];

const speedupRuns = [
  {
    label: 'PostLN',
    timePerSample: { step: [1, 2], ms: [10, 10] },
    evals: { step: [100, 200, 300], seconds: [10, 20, 30], valLoss: [8, 7, 6] },
  },
  {
    label: 'PreLN',
    timePerSample: { step: [1, 2], ms: [10, 10] },
    evals: { step: [100, 200, 300], seconds: [10, 20, 30], valLoss: [7, 6, 5] },
  },
  {
    label: 'PreLN+PLD',
    timePerSample: { step: [1, 2], ms: [10, 8], idealMs: [10, 7.5] },
    evals: { step: [100, 200, 300], seconds: [8, 16, 24], valLoss: [7.5, 6.5, 5.5] },
  },
];

describe('figure builders', () => {
  test('variant colours: one per variant, whatever the label spelling', () => {
    assert.equal(variantColor('postln'), VARIANT_COLORS.PostLN);
    assert.equal(variantColor('PostLN (baseline)'), VARIANT_COLORS.PostLN);
    assert.equal(variantColor('PreLN'), VARIANT_COLORS.PreLN);
    assert.equal(variantColor('preln-pld'), VARIANT_COLORS['PreLN+PLD']);
    assert.equal(variantColor('PreLN+PLD lr 0.002'), VARIANT_COLORS['PreLN+PLD']);
    assert.equal(variantColor('something else', '#123456'), '#123456');
  });

  test('gradNormFigure: one line per (variant, step), a log-y panel per variant, blocks 1..L', () => {
    const f = gradNormFigure(gradRuns);
    assert.equal(f.data.length, 4);
    assert.deepEqual(f.data[0].x, [1, 2, 3]);
    assert.deepEqual(f.data[1].y, [0.02, 0.2, 0.9]);
    assert.equal(f.data[0].name, 'PostLN, step 10');
    assert.equal(f.data[2].xaxis, 'x2');
    assert.equal(f.layout.yaxis?.type, 'log');
    assert.equal(f.layout.yaxis2?.type, 'log');
    assert.equal(f.layout.yaxis2?.matches, 'y');
    assert.match(f.layout.xaxis?.title?.text ?? '', /block/);
    assert.match(f.layout.yaxis?.title?.text ?? '', /gradient L2 norm/);
    assert.deepEqual(
      f.layout.annotations?.map((a) => a.text),
      ['<b>PostLN</b>', '<b>PreLN</b>'],
    );
  });

  test('thetaFigure: a line per schedule plus the sampled points', () => {
    const f = thetaFigure(
      [
        { label: 'a', t: [0, 1], theta: [1, 0.9] },
        { label: 'b', t: [0, 1], theta: [1, 0.8] },
      ],
      { label: 's', t: [0], value: [0.95] },
    );
    assert.equal(f.data.length, 3);
    assert.equal(f.data[2].mode, 'markers');
    assert.deepEqual(f.data[1].y, [1, 0.8]);
    assert.match(f.layout.yaxis?.title?.text ?? '', /θ\(t\)/);
    assert.match(f.layout.xaxis?.title?.text ?? '', /step/);
  });

  test('keepProbHeatmap: z is p[block][time], blocks numbered from 1', () => {
    const p = [
      [1, 1],
      [1, 0.5],
    ];
    const f = keepProbHeatmap({ t: [0, 100], blocks: 2, p });
    assert.equal(f.data.length, 1);
    assert.equal(f.data[0].type, 'heatmap');
    assert.deepEqual(f.data[0].z, p);
    assert.deepEqual(f.data[0].y, [1, 2]);
    assert.deepEqual(f.data[0].x, [0, 100]);
  });

  test('expectedDepthFigure: analytic line and sampled points per schedule', () => {
    const f = expectedDepthFigure(
      [
        { label: 'a', t: [0, 1], expected: [12, 10], sampled: [12, 9] },
        { label: 'b', t: [0, 1], expected: [12, 11] },
      ],
      12,
    );
    assert.equal(f.data.length, 3);
    assert.deepEqual(f.data[1].y, [12, 9]);
    assert.equal(f.data[0].line?.color, f.data[1].marker?.color);
    assert.deepEqual(
      f.data.map((t) => t.showlegend !== false),
      [true, false, true],
      'one legend entry per schedule',
    );
    assert.deepEqual(f.layout.yaxis?.range, [0, 12.5]);
  });

  test('depthRuleFigure: paper vs DeepSpeed lines by block', () => {
    const f = depthRuleFigure([
      { label: 'paper', p: [1, 0.75, 0.5] },
      { label: 'DeepSpeed', p: [1, 1, 0.75], dash: 'dash' },
    ]);
    assert.equal(f.data.length, 2);
    assert.deepEqual(f.data[1].x, [1, 2, 3]);
    assert.equal(f.data[1].line?.dash, 'dash');
  });

  test('speedupFigures: time per sample (measured + ideal), loss vs steps and seconds, time-to-loss bar', () => {
    const s = speedupFigures(speedupRuns);
    assert.equal(s.timePerSample.data.length, 4);
    assert.equal(s.timePerSample.data[3].name, 'PreLN+PLD (ideal)');
    assert.equal(s.timePerSample.data[3].line?.dash, 'dash');
    assert.match(s.timePerSample.layout.yaxis?.title?.text ?? '', /\(ms\)/);
    assert.equal(s.lossVsSteps.data.length, 3);
    assert.deepEqual(s.lossVsSteps.data[1].x, [100, 200, 300]);
    assert.deepEqual(s.lossVsTime.data[2].x, [8, 16, 24]);
    assert.match(s.lossVsTime.layout.xaxis?.title?.text ?? '', /\(s\)/);
    // PostLN reaches 6 at 30 s; PreLN at 20 s (1.5×); PLD between 16 s (6.5) and 24 s (5.5): 20 s.
    const bar = s.timeToLoss.data[0];
    assert.deepEqual(bar.x, ['PostLN', 'PreLN', 'PreLN+PLD']);
    assert.deepEqual(bar.y, [1, 1.5, 1.5]);
    assert.deepEqual(bar.text, ['1.00×', '1.50×', '1.50×']);
    assert.deepEqual(bar.marker?.color, [VARIANT_COLORS.PostLN, VARIANT_COLORS.PreLN, VARIANT_COLORS['PreLN+PLD']]);
  });

  test('secondsToReach interpolates and reports never-reached as null', () => {
    assert.equal(secondsToReach({ step: [1, 2], seconds: [10, 20], valLoss: [8, 6] }, 7), 15);
    assert.equal(secondsToReach({ step: [1], seconds: [10], valLoss: [8] }, 7), null);
    const s = speedupFigures([speedupRuns[1], { ...speedupRuns[0], label: 'slow' }], { baseline: 'PreLN' });
    assert.deepEqual(s.timeToLoss.data[0].text, ['1.00×', 'not reached']);
  });

  test('speedupFigures with the unigram line: a labelled reference line and PLD speedups at each target below it', () => {
    const s = speedupFigures(speedupRuns, { unigramLoss: 7, pld: 'PreLN+PLD' });
    const line = s.lossVsSteps.data[3];
    assert.equal(line.name, 'unigram model, no context (7.00)');
    assert.deepEqual([line.x, line.y, line.line?.dash], [[0, 300], [7, 7], 'dash']);
    assert.deepEqual(s.lossVsTime.data[3].x, [0, 30]);
    assert.deepEqual(
      s.timeToLoss.data.map((t) => t.name),
      ['over PostLN', 'over PreLN'],
    );
    assert.equal((s.timeToLoss.data[0].x as string[])[1], '−0.5 (6.50)');
    // Target 6.5: PostLN at 25 s, PreLN at 15 s, PLD at 16 s. Target 5.75: PostLN never; PreLN 22.5 s, PLD 22 s.
    const over = (k: number): (number | null)[] => s.timeToLoss.data[k].y as (number | null)[];
    close(over(0)[1] as number, 25 / 16);
    close(over(1)[1] as number, 15 / 16);
    assert.equal(over(0)[4], null);
    close(over(1)[4] as number, 22.5 / 22);
    assert.deepEqual(s.timeToLoss.data[0].text, ['1.61×', '1.56×', '1.53×', '1.50×', '', '']);
    assert.equal(s.timeToLoss.layout.annotations, undefined);
    // No run below the unigram line: the figure says so instead of showing empty bars.
    const none = speedupFigures(speedupRuns, { unigramLoss: 4, pld: 'PreLN+PLD' });
    assert.match(
      none.timeToLoss.layout.annotations?.[0]?.text ?? '',
      /^No speedup at any target: each is missed by PreLN\+PLD or by every other run\.<br>Lowest validation loss: PostLN 6\.00, PreLN 5\.00, PreLN\+PLD 5\.50\.$/,
    );
    assert.throws(
      () => speedupFigures(speedupRuns, { unigramLoss: 7, pld: 'PLD' }),
      /^Error: no run labelled 'PLD'; runs: PostLN, PreLN, PreLN\+PLD$/,
    );
  });

  test('lrRobustnessFigure: a panel per variant, one colour per learning rate, diverged dotted', () => {
    const f = lrRobustnessFigure([
      { variant: 'PostLN', lr: 1e-4, step: [1, 2], loss: [9, 8] },
      { variant: 'PostLN', lr: 1e-3, step: [1, 2], loss: [9, 12], diverged: true },
      { variant: 'PreLN+PLD', lr: 1e-3, step: [1, 2], loss: [9, 7] },
    ]);
    assert.equal(f.data.length, 3);
    assert.equal(f.data[2].xaxis, 'x2');
    assert.equal(f.data[1].line?.color, f.data[2].line?.color);
    assert.equal(f.data[1].line?.dash, 'dot');
    assert.equal(f.data[2].showlegend, false);
    assert.deepEqual(f.data[1].y, [9, 12]);
    const g = lrRobustnessFigure(
      [
        { variant: 'PostLN', lr: 1e-4, step: [1, 2], loss: [9, 8] },
        { variant: 'PreLN+PLD', lr: 1e-3, step: [1, 3], loss: [9, 7] },
      ],
      undefined,
      { unigramLoss: 6.8, caption: 'PostLN diverged' },
    );
    assert.deepEqual(
      g.data.slice(2).map((t) => [t.xaxis, t.x, t.y, t.showlegend]),
      [
        ['x', [1, 2], [6.8, 6.8], true],
        ['x2', [1, 3], [6.8, 6.8], false],
      ],
    );
    assert.equal(g.layout.annotations?.at(-1)?.text, 'PostLN diverged');
  });

  test('finetuneFigure: grouped bars at the median with interquartile error bars, baseline bar without', () => {
    const f = finetuneFigure(
      [
        { task: 'spam', variant: 'PostLN', median: 90, q1: 89, q3: 92 },
        { task: 'genre', variant: 'PostLN', median: 40, q1: 38, q3: 41 },
        { task: 'spam', variant: 'PreLN+PLD', median: 91, q1: 90.5, q3: 91.5 },
        { task: 'genre', variant: 'PreLN+PLD', median: 42, q1: 40, q3: 45 },
      ],
      { spam: 60, genre: 20 },
    );
    assert.equal(f.layout.barmode, 'group');
    assert.equal(f.data.length, 3);
    assert.deepEqual(f.data[1].x, ['spam', 'genre']);
    assert.deepEqual(f.data[1].y, [91, 42]);
    assert.deepEqual(
      [f.data[1].error_y?.array, f.data[1].error_y?.arrayminus],
      [
        [0.5, 3],
        [0.5, 2],
      ],
    );
    assert.equal(f.data[2].error_y, undefined);
    assert.deepEqual(f.data[2].y, [60, 20]);
    assert.match(f.layout.yaxis?.title?.text ?? '', /score/);
  });

  test('lineFigure and barFigure: generic charts pass values and titles through', () => {
    const l = lineFigure('T', 'x (s)', 'y (ms)', [{ label: 'PreLN', x: [1, 2], y: [3, 4] }], { logY: true });
    assert.equal(l.layout.yaxis?.type, 'log');
    assert.equal(l.layout.xaxis?.title?.text, 'x (s)');
    assert.equal(l.data[0].line?.color, VARIANT_COLORS.PreLN);
    const lr = lineFigure('T', 'step', 'loss (nats)', [
      { label: 'PostLN lr 1e-4', x: [1], y: [1] },
      { label: 'PostLN lr 1e-3', x: [1], y: [2] },
      { label: 'PreLN', x: [1], y: [3] },
    ]);
    assert.deepEqual(
      lr.data.map((t) => [t.line?.color, t.line?.dash]),
      [
        [VARIANT_COLORS.PostLN, 'solid'],
        [VARIANT_COLORS.PostLN, 'dash'],
        [VARIANT_COLORS.PreLN, 'solid'],
      ],
    );
    const b = barFigure('B', 'speedup (×)', ['a', 'b'], [{ label: 'one', values: [1, null] }]);
    assert.deepEqual(b.data[0].y, [1, null]);
  });

  test('figures are plain JSON (round-trip unchanged)', () => {
    const f = gradNormFigure(gradRuns);
    assert.deepEqual(JSON.parse(JSON.stringify(f)), f);
  });
});

describe('notebook table helpers', () => {
  test('markdown and HTML tables, figure slugs', () => {
    const rows = [{ variant: 'PreLN', loss: 1.23456, steps: 10, note: null }];
    assert.equal(markdownRows(rows), '| variant | loss | steps | note |\n|---|---|---|---|\n| PreLN | 1.235 | 10 |  |');
    assert.match(htmlRows(rows), /<th>loss<\/th>.*<td style="text-align:right">1.235<\/td>/);
    assert.equal(
      figureSlug({ data: [], layout: { title: { text: 'Validation MLM loss vs steps' } } }),
      'validation-mlm-loss-vs-steps',
    );
  });

  test('DataFrame rows: columns by name, NaN as an empty cell', () => {
    assert.deepEqual(
      frameRows({
        columns: ['step', 'loss'],
        values: [
          [1, 2.5],
          [2, NaN],
        ],
      }),
      [
        { step: 1, loss: 2.5 },
        { step: 2, loss: null },
      ],
    );
  });

  test('Markdown is sent rendered: bold, code and tables as HTML', () => {
    assert.equal(markdownHtml('**32.6 %** less `time`'), '<p><strong>32.6 %</strong> less <code>time</code></p>\n');
    assert.match(
      markdownHtml(markdownRows([{ task: 'spam', score: 91.5 }])),
      /<table>\n<thead>\n<tr>\n<th>task<\/th>\n<th>score<\/th>[\s\S]*<td>91.500<\/td>/,
    );
  });
});

describe('figures in notebooks', () => {
  const fig: Figure = lineFigure('Loss <b>vs</b> steps', 'step', 'loss', [{ label: 'PreLN', x: [1, 2], y: [3, 1] }]);

  test('the HTML rendering: the PNG in a box that a script replaces with the Plotly chart', () => {
    const html = figureHtmlOutput(fig, 'loss', { width: 760, height: 460, png: 'iVBORw0K', index: 3 });
    const id = /<div id="(pld-fig-loss-3-[0-9a-f]{8})" class="pld-figure"/.exec(html)?.[1];
    assert.ok(id, html.slice(0, 200));
    assert.match(html, /<img src="data:image\/png;base64,iVBORw0K" width="760" height="460" alt="Loss vs steps"/);
    assert.ok(html.includes(`document.getElementById(${JSON.stringify(id)})`), 'the script draws into its own box');
    assert.match(html, /window\.Plotly\.newPlot\(el, fig\.data, fig\.layout/);
    // The figure is in the script as JSON, with '<' escaped so it cannot end the script element.
    const spec = JSON.parse(/var fig = (.*);\n/.exec(html)?.[1] ?? 'null') as Figure;
    assert.deepEqual(spec.data, fig.data);
    assert.equal(spec.layout.title?.text, 'Loss <b>vs</b> steps');
    assert.doesNotMatch(/var fig = (.*);/.exec(html)?.[1] ?? '', /</);
    assert.equal(
      figureHtmlOutput(fig, 'loss', { width: 760, height: 460, png: 'iVBORw0K', index: 3 }),
      html,
      'the same figure gives the same bytes (stable diffs)',
    );
    assert.match(
      figureHtmlOutput(fig, 'loss', { width: 760, height: 460, png: null, index: 1 }),
      /no static image because headless Chromium was not found/,
    );
  });

  test('the plotly.js loader: the whole bundle, defined once, nothing that can end the script early', () => {
    const b = plotlyLoaderBundle();
    assert.equal(
      b['text/plain'],
      `<plotly.js ${plotlyVersion()} (cartesian bundle) for the interactive figures below>`,
    );
    const body = b['text/html'];
    assert.ok(body.startsWith('<script type="text/javascript">') && body.endsWith('</script>'));
    assert.equal(body.match(/<\/script/gi)?.length, 1, 'only the closing tag');
    assert.match(body, /if \(!window\.Plotly\) \{/);
    assert.ok(body.length > 1_000_000 && body.length < 1_700_000, `${body.length} characters`);
    assert.equal(plotlyLoaderBundle()['text/html'], body, 'the same bytes on every run');
  });

  test('log axes: decades over two or more decades, 1-2-5 over one to two, full numbers within one', () => {
    assert.deepEqual(logAxis([0.001, 0.5, 2]), {
      type: 'log',
      dtick: 1,
      exponentformat: 'power',
      minor: { ticks: 'outside', ticklen: 3, dtick: 'D1', showgrid: false },
    });
    assert.deepEqual(logAxis([0.05, 0.9]), {
      type: 'log',
      dtick: 'D2',
      tickformat: '~g',
      minor: { ticks: 'outside', ticklen: 3, dtick: 'D1', showgrid: false },
    });
    assert.deepEqual(logAxis([0.4, 0.9, 0, NaN]), { type: 'log', dtick: 'D1', tickformat: '~g' });
    const f = gradNormFigure(gradRuns); // norms from 0.01 to 1: two decades
    assert.equal(f.layout.yaxis?.dtick, 1);
    assert.equal(f.layout.yaxis2?.dtick, 1);
    assert.equal(
      lineFigure('t', 'x', 'y', [{ label: 'a', x: [1, 2], y: [0.3, 0.6] }], { logY: true }).layout.yaxis?.tickformat,
      '~g',
    );
  });
});

describe('progress', () => {
  /** A stream that records what is written (not a terminal). */
  const sink = () => {
    const chunks: string[] = [];
    return {
      chunks,
      stream: { isTTY: false, write: (s: string) => (chunks.push(s), true) } as unknown as NodeJS.WriteStream,
    };
  };

  test('outside a notebook and a terminal: plain lines at the first step, every 10 % of the run and at the end', async () => {
    const { chunks, stream } = sink();
    const p = createProgress('preln/quick', 20, 0, stream);
    p.line('preln preset=quick');
    for (let s = 0; s < 20; s++) {
      p.update(s, { loss: 5 - s / 10, extra: 'θ 1.000 blocks 2/2' });
      await p.flush();
    }
    p.done();
    assert.equal(chunks.length, 1 + 1 + 10);
    assert.equal(chunks[0], 'preln preset=quick\n');
    assert.match(chunks[1], /^preln\/quick step 1\/20 loss 5\.0000 /);
    assert.match(chunks[2], /^preln\/quick step 2\/20 loss 4\.9000 θ 1\.000 blocks 2\/2 ETA \d+:\d\d\n$/);
    assert.match(chunks[11], /^preln\/quick step 20\/20 loss 3\.1000 /);
    const quiet = sink();
    const q = createProgress('x', 5, 0, quiet.stream, true);
    q.line('hidden');
    q.update(4, { loss: 1 });
    assert.deepEqual(quiet.chunks, []);
  });
});

describe('figure export', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pld-plots-'));
  after(async () => {
    await closeExporter();
    fs.rmSync(dir, { recursive: true, force: true });
  });
  const fig: Figure = speedupFigures(speedupRuns).lossVsSteps;

  test('HTML is self-contained: plotly.js inlined, no remote script, the figure data in the page', async () => {
    const files = await exportFigure(fig, path.join(dir, 'html-only'), { formats: ['html'] });
    assert.deepEqual(files, [path.join(dir, 'html-only.html')]);
    const html = fs.readFileSync(files[0], 'utf8');
    assert.doesNotMatch(html, /<script[^>]+src=/i);
    assert.ok(html.includes(plotlyBundle()), 'plotly.js is inlined');
    assert.ok(
      plotlyBundle().length > 1_000_000 && plotlyBundle().length < 2_000_000,
      `the cartesian bundle (${plotlyBundle().length} characters)`,
    );
    assert.match(html, /"name":"PreLN\+PLD"/);
    assert.ok(html.includes('"y":[7.5,6.5,5.5]'), 'the values are in the page');
    assert.ok(html.includes(JSON.stringify(fig.layout.title)), 'the layout is in the page');
    assert.equal(figureHtml(fig, 'a<b').match(/<title>(.*)<\/title>/)?.[1], 'a&#60;b');
    assert.deepEqual(
      fs.readdirSync(dir).filter((f) => f.endsWith('.tmp')),
      [],
      'no temp files left',
    );
  });

  const skip = haveChromium()
    ? false
    : `headless Chromium not found at ${chromiumPath()}: run \`bash scripts/setup.sh test\` (or apt-get install chromium) to test PNG/SVG export`;

  test(
    'PNG and SVG through one headless Chromium; a missing browser is one clear line',
    { skip, timeout: 120_000 },
    async () => {
      const ex = await FigureExporter.launch();
      try {
        const written = await ex.export(fig, path.join(dir, 'loss'), { formats: ['png', 'svg', 'html'] });
        assert.deepEqual(
          written.map((f) => path.basename(f)),
          ['loss.png', 'loss.svg', 'loss.html'],
        );
        const png = fs.readFileSync(path.join(dir, 'loss.png'));
        assert.deepEqual([...png.subarray(0, 8)], PNG_SIGNATURE);
        assert.ok(png.length > 10_000, `PNG has content (${png.length} bytes)`);
        assert.equal(png.readUInt32BE(16), 2 * 760, 'PNG width = layout width × scale 2');
        const svg = fs.readFileSync(path.join(dir, 'loss.svg'), 'utf8');
        assert.match(svg, /^<svg/);
        assert.match(svg, /Validation MLM loss vs steps/);
        // Same browser, second figure, explicit size.
        const heat = await ex.render(
          keepProbHeatmap({
            t: [0, 1],
            blocks: 2,
            p: [
              [1, 1],
              [1, 0.5],
            ],
          }),
          'png',
          { width: 400, height: 300, scale: 1 },
        );
        assert.equal(heat.readUInt32BE(16), 400);
        assert.equal(heat.readUInt32BE(20), 300);
      } finally {
        await ex.close();
      }
      await assert.rejects(FigureExporter.launch({ executablePath: path.join(dir, 'no-chromium') }), (e: Error) => {
        assert.match(
          e.message,
          /^headless Chromium not found at .*no-chromium; run `bash scripts\/setup.sh` or apt-get install chromium$/,
        );
        return true;
      });
    },
  );

  test(
    'exportFigure writes PNG and SVG through the shared browser, at the requested size',
    { skip, timeout: 120_000 },
    async () => {
      const a = await exportFigure(fig, path.join(dir, 'a'), { formats: ['png'] });
      const b = await exportFigure(gradNormFigure(gradRuns), path.join(dir, 'b'), {
        formats: ['svg'],
        width: 500,
        height: 300,
      });
      assert.ok(fs.statSync(a[0]).size > 0);
      assert.match(fs.readFileSync(b[0], 'utf8'), /^<svg[^>]*width="500"/);
    },
  );
});

test('long line traces are thinned for notebook outputs; markers and short lines stay whole', () => {
  const xs = Array.from({ length: 6000 }, (_, i) => i);
  const fig = thinLines({
    data: [
      { type: 'scatter', mode: 'lines', name: 'long', x: xs, y: xs },
      { type: 'scatter', mode: 'markers', name: 'points', x: xs, y: xs },
      { type: 'scatter', mode: 'lines', name: 'short', x: [0, 1], y: [2, 3] },
    ],
    layout: {},
  });
  const [long, points, short] = fig.data;
  assert.equal(long.x?.length, 601);
  assert.deepEqual([long.x?.[0], long.x?.[1], long.x?.at(-1)], [0, 10, 5999]);
  assert.deepEqual(long.y, long.x);
  assert.equal(points.x?.length, 6000);
  assert.deepEqual(short.x, [0, 1]);
});
