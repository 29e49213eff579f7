import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Injectable, Logger } from '@nestjs/common';

export interface ConsoleAsset {
  readonly body: Buffer;
  readonly contentType: string;
}

/** The files of the console, by name; nothing else in the folder is served. */
const FILES: Record<string, string> = {
  'index.html': 'text/html; charset=utf-8',
  'console.css': 'text/css; charset=utf-8',
  'console.js': 'text/javascript; charset=utf-8',
  'console-model.js': 'text/javascript; charset=utf-8',
  'console-stream.js': 'text/javascript; charset=utf-8',
  'chart.js': 'text/javascript; charset=utf-8',
  'icon.svg': 'image/svg+xml',
};

/**
 * The console's static files, read once at start-up. They sit next to this file in `public/`: in src/ when run
 * from the sources (tests), in dist/ after `nest build` (which copies them, see nest-cli.json). A build without
 * them (plain `tsc`) still serves events: only the console is missing, and says so.
 */
@Injectable()
export class ConsoleAssets {
  private readonly logger = new Logger(ConsoleAssets.name);
  private readonly assets = new Map<string, ConsoleAsset>();
  /** Why the console cannot be served, if it cannot. */
  readonly missing?: string;

  constructor() {
    const dir = fileURLToPath(new URL('./public/', import.meta.url));
    try {
      for (const [name, contentType] of Object.entries(FILES)) {
        this.assets.set(name, { body: readFileSync(dir + name), contentType });
      }
    } catch (err) {
      this.assets.clear();
      this.missing = `The console's files are missing from this build (${dir}): build with nest build`;
      this.logger.error(`${this.missing}: ${(err as Error).message}`);
    }
  }

  get(name: string): ConsoleAsset | undefined {
    return this.assets.get(name);
  }
}
