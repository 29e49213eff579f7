import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { NotFoundException, type INestApplication } from '@nestjs/common';
import type { NestExpressApplication } from '@nestjs/platform-express';
import type { Request, Response } from 'express';

/**
 * What `npm run build` writes (openapi.generator.ts): each file is the body one route of SwaggerModule.setup
 * answered at build time, served here as it was. `capture` is the path the generator reads it from.
 */
export const API_DOCS_FILES = {
  json: { file: 'openapi.json', capture: '/docs-json', type: 'application/json' },
  yaml: { file: 'openapi.yaml', capture: '/docs-yaml', type: 'text/yaml' },
  page: { file: 'swagger-ui/index.html', capture: '/docs', type: 'text/html' },
  pageWithSlash: { file: 'swagger-ui/index-slash.html', capture: '/docs/', type: 'text/html' },
  initializer: {
    file: 'swagger-ui/swagger-ui-init.js',
    capture: '/docs/swagger-ui-init.js',
    type: 'application/javascript',
  },
} as const;

export type ApiDocsFile = keyof typeof API_DOCS_FILES;

/** Where the build puts them: dist/, the folder above this module's. */
export const BUILT_API_DOCS_DIR = fileURLToPath(new URL('..', import.meta.url));

/**
 * The API docs, as SwaggerModule.setup('docs', ...) served them when it built the document at every start: the
 * Swagger UI page on /docs (its assets from swagger-ui-dist), the document on /docs-json and /docs-yaml. The
 * same routes on the same Express app, so the same CORS and guards (none: the docs are public). Files are read
 * at their first request; a build without them (the sources run by the tests) answers 404.
 */
export function setupDocs(app: INestApplication, docsDir: string = BUILT_API_DOCS_DIR): void {
  const http = app.getHttpAdapter();
  const bodies = new Map<ApiDocsFile, string>();
  const send = (name: ApiDocsFile, res: Response) => {
    const { file, type } = API_DOCS_FILES[name];
    let body = bodies.get(name);
    if (body === undefined) {
      try {
        body = readFileSync(path.join(docsDir, file), 'utf8');
      } catch {
        throw new NotFoundException(`The API docs were not generated (${file}): run npm run build`);
      }
      bodies.set(name, body);
    }
    res.type(type).send(body);
  };
  // SwaggerModule's routes, in its order. Express routes `/docs/` to `/docs`: the page's relative asset URLs
  // differ with a trailing slash (it reads the URL as the Express adapter's getRequestUrl does).
  const page = (req: Request, res: Response) => send(req.originalUrl.endsWith('/') ? 'pageWithSlash' : 'page', res);
  const initializer = (_req: Request, res: Response) => send('initializer', res);
  http.get('/docs/swagger-ui-init.js', initializer);
  http.get('/docs/docs/swagger-ui-init.js', initializer);
  http.get('/docs', page);
  http.get('/docs/index.html', page);
  http.get('/docs/LICENSE', () => {
    throw new NotFoundException();
  });
  http.get('/docs/', page);
  http.get('/docs-json', (_req: Request, res: Response) => send('json', res));
  http.get('/docs-yaml', (_req: Request, res: Response) => send('yaml', res));
  // Resolved, not loaded: swagger-ui-dist's files are only read by express.static.
  const assets = path.dirname(createRequire(import.meta.url).resolve('swagger-ui-dist/package.json'));
  (app as NestExpressApplication).useStaticAssets(assets, { prefix: '/docs' });
}
