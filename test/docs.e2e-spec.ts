import SwaggerParser from '@apidevtools/swagger-parser';
import type { OpenAPIV3 } from 'openapi-types';
import { parse as parseYaml } from 'yaml';
import { checkMonitoringEvent } from '../src/schema/strict-schema.js';
import { startApp, type RunningApp } from './support/app.js';
import { request } from './support/http.js';

describe('API docs: /docs, /docs-json and /docs-yaml', () => {
  let running: RunningApp;
  let doc: OpenAPIV3.Document;

  beforeAll(async () => {
    // With tokens set, the docs stay public: they hold no data.
    running = await startApp({ SUBSCRIBER_TOKENS: 'docs-test-token-0123456789' });
    const res = await request(`${running.url}/docs-json`);
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toMatch(/^application\/json/);
    doc = JSON.parse(res.body) as OpenAPIV3.Document;
  });
  afterAll(() => running?.close());

  it('serves the same document as YAML', async () => {
    const yaml = await request(`${running.url}/docs-yaml`);
    expect(yaml.status).toBe(200);
    expect(yaml.headers['content-type']).toMatch(/^text\/yaml/);
    expect(parseYaml(yaml.body)).toEqual(doc);
  });

  it('is a valid OpenAPI 3 document', async () => {
    expect(doc.openapi).toMatch(/^3\./);
    // validate() dereferences in place: give it a copy.
    await expect(SwaggerParser.validate(structuredClone(doc) as never)).resolves.toBeDefined();
    // The validator does refuse a broken document, so the line above can fail.
    const broken = { ...structuredClone(doc), paths: { '/x': { get: { responses: { 200: { content: 1 } } } } } };
    await expect(SwaggerParser.validate(broken as never)).rejects.toThrow();
  });

  it('describes the ingest, the stream and the metrics, and the health probes, with no other method', () => {
    const operations = Object.entries(doc.paths).map(([path, item]) => [path, Object.keys(item ?? {}).sort()]);
    expect(Object.fromEntries(operations)).toEqual({
      '/api/events': ['post'],
      '/events': ['get'],
      '/metrics': ['get'],
      '/health': ['get'],
      '/health/live': ['get'],
      '/health/ready': ['get'],
    });
  });

  it('gives the event envelope with an example of each event type, each one valid under the strict schema', () => {
    const post = doc.paths['/api/events']!.post!;
    const body = post.requestBody as OpenAPIV3.RequestBodyObject;
    expect(Object.keys(body.content).sort()).toEqual(['application/json', 'text/plain']);
    const examples = body.content['application/json'].examples as Record<string, OpenAPIV3.ExampleObject>;
    expect(Object.keys(examples).sort()).toEqual(['ERROR', 'HEARTBEAT', 'START', 'STOP']);
    for (const [name, example] of Object.entries(examples)) {
      expect((example.value as { event_name: string }).event_name).toBe(name);
      expect(() => checkMonitoringEvent(example.value as Record<string, unknown>)).not.toThrow();
    }
    const envelope = doc.components!.schemas!.MonitoringEventDto as OpenAPIV3.SchemaObject;
    expect(envelope.required?.sort()).toEqual(['data', 'event_name', 'session_id', 'timestamp', 'version']);
    expect((envelope.properties!.event_name as OpenAPIV3.SchemaObject).enum).toEqual([
      'START',
      'STOP',
      'ERROR',
      'HEARTBEAT',
    ]);
    expect((envelope.properties!.timestamp as OpenAPIV3.SchemaObject).type).toBe('integer');
    expect(Object.keys(post.responses).sort()).toEqual(['204', '400', '413', '415', '429']);
  });

  it('describes error bodies, the SSE stream and how to present a token', () => {
    const errorRef = { $ref: '#/components/schemas/HttpErrorDto' };
    const error = doc.components!.schemas!.HttpErrorDto as OpenAPIV3.SchemaObject;
    expect(error.required?.sort()).toEqual(['error', 'message', 'statusCode']);
    const post = doc.paths['/api/events']!.post!;
    for (const status of ['400', '413', '415', '429']) {
      const response = post.responses[status] as OpenAPIV3.ResponseObject;
      expect(response.content!['application/json'].schema).toEqual(errorRef);
    }
    expect((post.responses['429'] as OpenAPIV3.ResponseObject).headers).toHaveProperty('Retry-After');

    const stream = doc.paths['/events']!.get!;
    const ok = stream.responses['200'] as OpenAPIV3.ResponseObject;
    expect(Object.keys(ok.content!)).toEqual(['text/event-stream']);
    expect(ok.content!['text/event-stream'].example).toMatch(/^: connected\n\ndata: \{"event_name":"START"/);
    expect((stream.responses['401'] as OpenAPIV3.ResponseObject).content!['application/json'].schema).toEqual(errorRef);
    expect(stream.security).toEqual([{ 'subscriber-token': [] }, { access_token: [] }]);
    // The stream filters, and the 400 of an empty one.
    const filters = (stream.parameters as OpenAPIV3.ParameterObject[]).map(({ name, in: where, required }) => ({
      name,
      where,
      required,
    }));
    expect(filters).toEqual([
      { name: 'event_name', where: 'query', required: false },
      { name: 'session_id', where: 'query', required: false },
    ]);
    expect((stream.responses['400'] as OpenAPIV3.ResponseObject).content!['application/json'].schema).toEqual(errorRef);
    expect(doc.paths['/metrics']!.get!.security).toEqual([{ 'subscriber-token': [] }, { access_token: [] }]);
    expect(doc.components!.securitySchemes).toEqual({
      'subscriber-token': expect.objectContaining({ type: 'http', scheme: 'bearer' }),
      access_token: expect.objectContaining({ type: 'apiKey', in: 'query', name: 'access_token' }),
    });
    expect(doc.components!.schemas).toHaveProperty('BroadcastEventDto.properties.user_ip');
  });

  it('serves the page on /docs', async () => {
    const page = await request(`${running.url}/docs`);
    expect(page.status).toBe(200);
    expect(page.headers['content-type']).toMatch(/^text\/html/);
    expect(page.body).toContain('swagger-ui');
    // Its scripts and style sheet (relative URLs: ./docs/ from /docs, ./ from /docs/), swagger-ui-dist's and ours.
    for (const from of ['/docs', '/docs/']) {
      const html = (await request(`${running.url}${from}`)).body;
      const assets = [...html.matchAll(/(?:src|href)="([^"]+\.(?:js|css))"/g)].map(([, url]) => url);
      expect(assets.map((url) => url.replace(/^\.\/(docs\/)?/, ''))).toEqual([
        'swagger-ui.css',
        'swagger-ui-bundle.js',
        'swagger-ui-standalone-preset.js',
        'swagger-ui-init.js',
      ]);
      for (const url of assets) {
        const asset = await request(new URL(url, `${running.url}${from}`).href);
        expect({ from, url, status: asset.status }).toEqual({ from, url, status: 200 });
        expect(asset.headers['content-type']).toMatch(/^text\/(css|javascript)|^application\/javascript/);
      }
    }
  });
});
