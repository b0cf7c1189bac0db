/** Fine-tuning tasks: GLUE from its official files, and the offline suite built from npm-installed text. */
export type { Baseline, Example, MetricName, MetricValues, TaskData, TaskKind, TaskSpec } from './types';
export { GLUE_TASKS, glueDevSets, glueTaskSpec, loadGlueTask, parseGlueTsv, resolveGlueTask } from './glue';
export type { GlueTaskName, LoadOptions, ParsedTsv } from './glue';
export {
  BROWN_GENRE_CLASS, DEV_FRACTION, GENRE_CLASSES, OFFLINE_DEFAULTS, OFFLINE_TASKS, PRETRAIN_SPLIT, SOTU_YEARS,
  fineTuningDocuments, labelToYear, loadOfflineSuite, loadOfflineTask, offlineTaskSpec, pretrainingValidationIds,
  resolveOfflineTask, yearToLabel,
} from './offline';
export type { OfflineOptions, OfflineTaskName } from './offline';
export {
  accuracy, averageRanks, computeMetrics, constantBaseline, f1, glueScore, matthews, meanSquaredError, multiDevScore,
  pearson, spearman, taskScore,
} from '../metrics';
