import { ApplicationFailure } from '@temporalio/common';
import { ERRORS, type AppError } from '../../core/errors.js';

/**
 * An AppError in Temporal's terms: its registry code as the failure type, and not retried
 * when the registry says retrying cannot help (the workflows' retry policies list those
 * codes too). The one place activities turn registry errors into failures.
 */
export function appFailure(err: AppError): ApplicationFailure {
  return ApplicationFailure.create({ type: err.code, message: err.message, nonRetryable: !ERRORS[err.code].retryable });
}
