/**
 * Scale-out on BullMQ over Redis: workers that classify the jobs of a queue (startClassifyWorker, `vggnet worker`)
 * and the producer's side (enqueueClassify, classifyJobResult, submitImages, `vggnet submit`). Loaded on its own
 * (`require('vggnet/dist/queue')`), so the rest of vggnet never loads BullMQ.
 */
export { startClassifyWorker, ClassifyWorker, ClassifyWorkerOptions } from './worker';
export { enqueueClassify, classifyJobResult, ClassifyJob, EnqueueOptions } from './client';
export { submitImages, listImages, IMAGE_EXTENSIONS, SubmitOptions, SubmitLine, SubmitSummary } from './submit';
export {
  CLASSIFY_JOB,
  JOB_DATA_VERSION,
  ClassifyJobData,
  ClassifyJobOptions,
  ClassifyJobResult,
  JobImage,
  JobError,
  jobError,
  UNRECOVERABLE_CODES,
  unrecoverable,
} from './job';
export { RedisConnection } from './connection';
export { openQueueEvents } from './events';
