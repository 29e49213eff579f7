import { Module } from '@nestjs/common';
import { ShutdownState } from './shutdown-state.service.js';

@Module({ providers: [ShutdownState], exports: [ShutdownState] })
export class CommonModule {}
