/** `npm run bench`: the throughput table for the `small` preset's model on the default backend. */
import { benchTable, runBench } from '../src/bench';
import { BERT_BASE } from '../src/model/config';

async function main(): Promise<void> {
  const model = { ...BERT_BASE, vocabSize: 8192, hidden: 128, heads: 4, intermediate: 512, layers: 12, maxPositions: 128 };
  const steps = Number(process.env.PLD_BENCH_STEPS ?? 20);
  const r = await runBench({ model, batchSize: 16, seqLen: 64, steps, warmup: 3, log: (s) => console.error(s) });
  console.log(benchTable(r));
}

main().catch((e: unknown) => {
  console.error(`bench failed: ${e instanceof Error ? e.message : String(e)}`);
  process.exit(1);
});
