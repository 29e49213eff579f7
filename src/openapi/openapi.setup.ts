import type { INestApplication } from '@nestjs/common';
import { DocumentBuilder, SwaggerModule, type OpenAPIObject } from '@nestjs/swagger';
import { BEARER_SCHEME, QUERY_TOKEN_SCHEME } from './api-docs.decorators.js';

/** The OpenAPI document of the application's routes. */
export function createApiDocument(app: INestApplication): OpenAPIObject {
  const config = new DocumentBuilder()
    .setTitle('Pillarbox event dispatcher')
    .setDescription(
      'Receives Pillarbox playback-monitoring events over HTTP and broadcasts them in real time as ' +
        'Server-Sent Events. Events are never stored.',
    )
    .setVersion('1')
    .addBearerAuth(
      { type: 'http', scheme: 'bearer', description: 'One of SUBSCRIBER_TOKENS, or a JWT (JWT_SECRET, JWT_JWKS_URL)' },
      BEARER_SCHEME,
    )
    .addApiKey(
      {
        type: 'apiKey',
        in: 'query',
        name: 'access_token',
        description: 'The same token, for EventSource (which cannot set headers)',
      },
      QUERY_TOKEN_SCHEME,
    )
    .build();
  return SwaggerModule.createDocument(app, config);
}

/** The API docs: the Swagger UI page on /docs, the document on /docs-json and /docs-yaml; public, as the routes. */
export function setupDocs(app: INestApplication): void {
  SwaggerModule.setup('docs', app, () => createApiDocument(app), {
    jsonDocumentUrl: 'docs-json',
    yamlDocumentUrl: 'docs-yaml',
  });
}
