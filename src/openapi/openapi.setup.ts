import type { INestApplication } from '@nestjs/common';
import { DocumentBuilder, SwaggerModule } from '@nestjs/swagger';
import { BEARER_SCHEME, QUERY_TOKEN_SCHEME } from './api-docs.decorators.js';

/** The OpenAPI document, served as a page on /docs and as JSON on /docs-json. */
export function setupDocs(app: INestApplication): void {
  const config = new DocumentBuilder()
    .setTitle('Pillarbox event dispatcher')
    .setDescription(
      'Receives Pillarbox playback-monitoring events over HTTP and broadcasts them in real time as ' +
        'Server-Sent Events. Events are never stored.',
    )
    .setVersion('1')
    .addBearerAuth({ type: 'http', scheme: 'bearer', description: 'One of SUBSCRIBER_TOKENS' }, BEARER_SCHEME)
    .addApiKey(
      { type: 'apiKey', in: 'query', name: 'access_token', description: 'One of SUBSCRIBER_TOKENS, for EventSource' },
      QUERY_TOKEN_SCHEME,
    )
    .build();
  const document = SwaggerModule.createDocument(app, config);
  SwaggerModule.setup('docs', app, document, { jsonDocumentUrl: 'docs-json', yamlDocumentUrl: 'docs-yaml' });
}
