// The entry point. app.preload.ts changes how some modules are loaded, which must happen before they are linked:
// every static import is linked before the first one runs, hence the application by a dynamic import.
import { restoreDateTimeFormat } from './app.preload.js';

const { bootstrap } = await import('./app.bootstrap.js');
// Every module is loaded: formatters made from now on are made at once again.
restoreDateTimeFormat();
void bootstrap();
