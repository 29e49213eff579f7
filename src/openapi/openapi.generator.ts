import { mkdir, writeFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import type { INestApplication } from '@nestjs/common';
import type { OpenAPIObject } from '@nestjs/swagger';
import { API_DOCS_FILES, BUILT_API_DOCS_DIR, type ApiDocsFile } from './openapi.setup.js';
import { OPENAPI_GENERATOR_ENV } from './openapi.constants.js';

/** Fails unless the decorators' module was (or is now) evaluated with OPENAPI_GENERATOR_ENV=1. */
async function loadRealDecorators(): Promise<void> {
  // Before the decorators' module is evaluated: it reads the variable once. This file's static imports load
  // neither it nor a module that imports it.
  process.env[OPENAPI_GENERATOR_ENV] = '1';
  const decorators = await import('./swagger.decorators.js');
  if (!decorators.SWAGGER_DECORATORS_ARE_REAL) {
    throw new Error(
      `The application's modules were loaded before ${OPENAPI_GENERATOR_ENV}=1 was set: the document would be empty`,
    );
  }
}

/** The OpenAPI document of an application whose modules were loaded after loadRealDecorators(). */
export async function createApiDocument(app: INestApplication): Promise<OpenAPIObject> {
  await loadRealDecorators();
  const { DocumentBuilder, SwaggerModule } = await import('@nestjs/swagger');
  const { BEARER_SCHEME, QUERY_TOKEN_SCHEME } = await import('./api-docs.decorators.js');
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
  return SwaggerModule.createDocument(app, config);
}

/**
 * Build time only (`npm run build` runs this file after `nest build`): boots the application's modules with the
 * real @nestjs/swagger decorators, serves the document with SwaggerModule.setup as the service did at every
 * start, and writes what each route of API_DOCS_FILES answers into `outDir`, for openapi.setup.ts to serve. The
 * configuration is the defaults, not the build machine's environment. Returns the files' contents.
 */
export async function generateApiDocs(outDir: string): Promise<Record<ApiDocsFile, string>> {
  await loadRealDecorators();
  const { SwaggerModule } = await import('@nestjs/swagger');
  const { NestFactory } = await import('@nestjs/core');
  const { AppModule } = await import('../app.module.js');
  const { loadConfig } = await import('../config/app-config.js');

  const config = loadConfig({ HOST: '127.0.0.1', PORT: '0' });
  const discard = { write: () => undefined };
  const app: INestApplication = await NestFactory.create(AppModule.forRoot(config, { logDestination: discard }), {
    bodyParser: false,
    logger: false,
  });
  try {
    const document = await createApiDocument(app);
    SwaggerModule.setup('docs', app, document, { jsonDocumentUrl: 'docs-json', yamlDocumentUrl: 'docs-yaml' });
    await app.listen(0, '127.0.0.1');
    const { port } = app.getHttpServer().address() as AddressInfo;
    const bodies = {} as Record<ApiDocsFile, string>;
    for (const [name, { file, capture, type }] of Object.entries(API_DOCS_FILES) as Array<
      [ApiDocsFile, (typeof API_DOCS_FILES)[ApiDocsFile]]
    >) {
      const res = await fetch(`http://127.0.0.1:${port}${capture}`);
      const contentType = res.headers.get('content-type') ?? '';
      if (res.status !== 200 || !contentType.startsWith(type)) {
        throw new Error(`GET ${capture} answered ${res.status} ${contentType}, expected 200 ${type}`);
      }
      bodies[name] = await res.text();
      await mkdir(path.dirname(path.join(outDir, file)), { recursive: true });
      await writeFile(path.join(outDir, file), bodies[name]);
    }
    return bodies;
  } finally {
    await app.close();
  }
}

// `node dist/openapi/openapi.generator.js`: next to the build's main.js.
if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  await generateApiDocs(BUILT_API_DOCS_DIR);
  process.stdout.write(`API docs written to ${BUILT_API_DOCS_DIR}\n`);
}
