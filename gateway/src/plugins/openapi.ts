import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { FastifyInstance } from 'fastify';
import { jsonSchemaTransform, serializerCompiler, validatorCompiler } from 'fastify-type-provider-zod';
import { VERSION } from '../../../platform/version.js';

export interface OpenApiInfo {
  readonly title: string;
  readonly description: string;
  readonly securitySchemes: Record<string, { type: 'http'; scheme: 'bearer'; description: string }>;
}

/**
 * zod validates requests and serializes responses, and the same schemas become the
 * listener's OpenAPI document (`/docs/json`) and Swagger UI (`/docs`).
 */
export async function withOpenApi(app: FastifyInstance, info: OpenApiInfo): Promise<void> {
  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);
  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: { title: info.title, description: info.description, version: VERSION },
      components: { securitySchemes: info.securitySchemes },
    },
    transform: jsonSchemaTransform,
  });
  await app.register(swaggerUi, { routePrefix: '/docs' });
}
