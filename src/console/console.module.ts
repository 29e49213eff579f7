import { Module } from '@nestjs/common';
import { ConsoleAssets } from './console-assets.service.js';
import { ConsoleController } from './console.controller.js';

/** Serves the live console at `/` and `/console`, with its assets under `/console/`. */
@Module({ controllers: [ConsoleController], providers: [ConsoleAssets] })
export class ConsoleModule {}
