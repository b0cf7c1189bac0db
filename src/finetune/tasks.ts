/** Task lookup for fine-tuning: offline-suite names first, then GLUE names (which need a GLUE directory). */
import { GLUE_TASKS, loadGlueTask, resolveGlueTask } from '../tasks/glue';
import { OFFLINE_TASKS, loadOfflineTask } from '../tasks/offline';
import { TaskData } from '../tasks/types';

export function loadTask(name: string, o: { glueDir?: string; maxTrain?: number; maxDev?: number }): TaskData {
  const offline = (OFFLINE_TASKS as readonly string[]).find((t) => t.toLowerCase() === name.toLowerCase());
  if (offline) return loadOfflineTask(offline, { maxTrain: o.maxTrain, maxDev: o.maxDev });
  let glue: string;
  try {
    glue = resolveGlueTask(name);
  } catch {
    throw new Error(
      `unknown task '${name}'; offline suite: ${OFFLINE_TASKS.join(', ')}; GLUE: ${GLUE_TASKS.join(', ')}`,
    );
  }
  if (!o.glueDir)
    throw new Error(
      `task ${glue} is a GLUE task: pass --glue-dir pointing at the GLUE data (<dir>/${glue}/train.tsv, …)`,
    );
  return loadGlueTask(o.glueDir, glue, { maxTrain: o.maxTrain, maxDev: o.maxDev });
}
