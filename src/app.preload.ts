import { deferDateTimeFormat } from './common/deferred-date-format.js';
import { deferBuiltinImports, deferHttpUndiciClasses, deferRequires } from './common/deferred-modules.js';

/**
 * What must happen before the framework's modules are loaded: main.ts imports this module before them, and calls
 * restoreDateTimeFormat() once they are.
 */
export const restoreDateTimeFormat = deferDateTimeFormat(Intl);

// Modules that dependencies load for features the service does not use (or only for some requests).
deferRequires([
  // class-validator's @IsPhoneNumber(): libphonenumber-js and its metadata.
  { specifier: 'libphonenumber-js/max', from: 'class-validator' },
  // Express's `extended` query parser (not the one it uses) and body-parser's urlencoded bodies (not our routes).
  { specifier: 'qs', from: 'express' },
  { specifier: 'qs', from: 'body-parser' },
  // prom-client's exemplars (off): the OpenTelemetry API.
  { specifier: '@opentelemetry/api', from: 'prom-client' },
  // prom-client's Pushgateway (not used): https, and with it tls.
  { specifier: 'https', from: 'prom-client' },
]);
// Node's tls and https (about 3 MB of RSS), which only an HTTPS server would use: the service serves plain HTTP.
deferBuiltinImports([
  // NestApplication.getUrl() (not called): whether the server is a tls.Server.
  { file: '@nestjs/core/nest-application.js', statement: "import { Server as TlsServer } from 'tls';" },
  // ExpressAdapter's `httpsOptions` (not set).
  { file: '@nestjs/platform-express/adapters/express-adapter.js', statement: "import * as https from 'https';" },
]);

await deferHttpUndiciClasses();
