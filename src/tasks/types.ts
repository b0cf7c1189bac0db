/**
 * Plain value types shared by every fine-tuning task (GLUE and the offline suite), so the
 * fine-tuning loop and the metrics code never need to know where a task's data came from.
 */

/** Metrics reported by GLUE tasks; values are percentages (×100), as in the paper's tables. */
export type MetricName = 'accuracy' | 'f1' | 'mcc' | 'pearson' | 'spearman';

/** Metric values for one evaluation; only the task's own metrics are present. */
export type MetricValues = Partial<Record<MetricName, number>>;

/** One input and its gold label. */
export interface Example {
  textA: string;
  /** Second segment for sentence-pair tasks (MRPC, MNLI, `adjacent`, …); absent for single-sentence tasks. */
  textB?: string;
  /** Class index in [0, numLabels) for classification, the raw score for regression. */
  label: number;
  /**
   * Ids of the documents the texts were drawn from (offline suite only; GLUE rows have none), so
   * provenance can be checked, e.g. that no example comes from the pretraining validation split.
   */
  origin?: string[];
}

export type TaskKind = 'classification' | 'regression';

export interface TaskSpec {
  /** Canonical name, e.g. 'CoLA', 'SST-2', 'spam'. */
  name: string;
  kind: TaskKind;
  /** Number of classes; 1 for regression (a single output unit). */
  numLabels: number;
  /** Class names in label-index order (classification only); index i is what `label === i` means. */
  labelNames?: string[];
  /** Inclusive range of gold scores for regression tasks, e.g. [0, 5] for STS-B. */
  labelRange?: [number, number];
  /** The metrics the task is scored by, in the order the GLUE leaderboard prints them. */
  metrics: MetricName[];
  /** true when examples carry `textB`. */
  pair: boolean;
}

/**
 * What a trivial predictor scores on one dev set, computed with the same metrics code as the
 * model, so every reported score can be read against it.
 */
export interface Baseline {
  /**
   * 'majority': always the most frequent training class; 'constant': always another class, which
   * scores better on the training labels (F1 rewards always answering positive); 'mean': always the
   * mean training score.
   */
  predictor: 'majority' | 'constant' | 'mean';
  /** The constant it predicts (a class index, or a score). */
  prediction: number;
  metrics: MetricValues;
  /** `taskScore(metrics)`. */
  score: number;
  /** Mean squared error on the dev set (regression only): the informative number when correlations are 0. */
  mse?: number;
}

export interface TaskData {
  spec: TaskSpec;
  train: Example[];
  /**
   * Named dev sets, in report order. Most tasks have one, called 'dev'; MNLI has 'dev_matched' and
   * 'dev_mismatched'. Always a record (never a bare array) so callers handle one shape.
   */
  dev: Record<string, Example[]>;
  /** One baseline per dev set, same keys as `dev`. */
  baseline: Record<string, Baseline>;
  /** Rows dropped while loading, per file name (QQP has rows with missing fields; HF's processor skips them too). */
  skippedRows: Record<string, number>;
  /** Where the data came from and how it was split; one line per fact, for logs and reports. */
  notes: string[];
}
