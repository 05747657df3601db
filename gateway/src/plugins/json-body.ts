import { isUtf8 } from 'node:buffer';
import type { FastifyInstance } from 'fastify';
import { AppError } from '../../../core/errors.js';

/**
 * JSON bodies must be valid UTF-8: Node would otherwise replace bad bytes with U+FFFD and
 * store a silently different name. Decoding is strict, then Fastify's own JSON parser
 * (with its prototype-poisoning protection) takes over. An empty body is no body.
 */
export function strictUtf8Json(app: FastifyInstance): void {
  const parseJson = app.getDefaultJsonParser('error', 'error');
  app.addContentTypeParser('application/json', { parseAs: 'buffer' }, (request, body, done) => {
    // Many clients send the JSON content type on body-less actions (POST …/revoke).
    if ((body as Buffer).length === 0) {
      done(null, undefined);
      return;
    }
    if (!isUtf8(body as Buffer)) {
      done(Object.assign(new AppError('INVALID_INPUT', 'the request body is not valid UTF-8'), { statusCode: 400 }), undefined);
      return;
    }
    void parseJson(request, (body as Buffer).toString('utf8'), done);
  });
}
