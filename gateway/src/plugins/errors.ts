import type { FastifyError, FastifyInstance } from 'fastify';
import { AppError, ERRORS, isAppError, publicMessage } from '../../../core/errors.js';

/**
 * The REST error shape on every non-MCP route: `{ error: { code, message, requestId } }`.
 * Validation failures are INVALID_INPUT with field paths; unknown errors are INTERNAL and
 * never expose their message. 5xx are logged at error level, 4xx at info.
 */
export function installErrorHandling(app: FastifyInstance): void {
  app.setErrorHandler((error: FastifyError, request, reply) => {
    const appError = toAppError(error);
    const spec = ERRORS[appError.code];
    if (spec.http >= 500) request.log.error({ err: error }, 'request failed');
    else request.log.info({ code: appError.code }, 'request rejected');
    if (spec.http === 401) reply.header('www-authenticate', 'Bearer realm="tollgate"');
    const details = spec.expose && Object.keys(appError.details).length > 0 ? { details: appError.details } : {};
    return reply
      .code(spec.http)
      .send({ error: { code: appError.code, message: publicMessage(appError), requestId: request.id, ...details } });
  });
  app.setNotFoundHandler((request, reply) =>
    reply.code(404).send({ error: { code: 'NOT_FOUND', message: `no route for ${request.method} ${request.url.split('?')[0]}`, requestId: request.id } }),
  );
}

function toAppError(error: FastifyError): AppError {
  if (isAppError(error)) return error;
  if (error.validation) {
    const where = error.validationContext ?? 'request';
    const issues = error.validation.map((v) => `${where}${(v.instancePath || '').replace(/\/$/, '')}: ${v.message ?? 'is invalid'}`);
    return new AppError('INVALID_INPUT', issues.join('; '), { issues });
  }
  if (error.statusCode === 413) return new AppError('PAYLOAD_TOO_LARGE', 'the request body is too large');
  if (error.statusCode === 415) return new AppError('INVALID_INPUT', 'unsupported Content-Type');
  if (error.statusCode === 400) return new AppError('INVALID_INPUT', 'the request body is not valid JSON');
  return new AppError('INTERNAL', 'internal error', {}, { cause: error });
}
