import { Module } from '@nestjs/common';
import { TerminusModule } from '@nestjs/terminus';
import { FinboxModule } from '../finbox/finbox.module.js';
import { HealthController } from './health.controller.js';

@Module({ imports: [TerminusModule, FinboxModule], controllers: [HealthController] })
export class HealthModule {}
