import { deferDateTimeFormat } from './common/deferred-date-format.js';
import { deferHttpUndiciClasses, deferRequires } from './common/deferred-modules.js';

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
]);

await deferHttpUndiciClasses();
