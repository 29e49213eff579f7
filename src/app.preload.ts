import { deferDateTimeFormat } from './common/deferred-date-format.js';

/**
 * What must happen before the framework's modules are loaded: main.ts imports this module before them, and calls
 * restoreDateTimeFormat() once they are.
 */
export const restoreDateTimeFormat = deferDateTimeFormat(Intl);
