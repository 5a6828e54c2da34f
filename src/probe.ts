import 'reflect-metadata';
import { Controller, Get, Injectable, Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { FastifyAdapter, type NestFastifyApplication } from '@nestjs/platform-fastify';

@Injectable()
export class Svc { hi() { return { ok: true }; } }

@Controller()
export class Ctl {
  constructor(private readonly svc: Svc) {}
  @Get('hi') hi() { return this.svc.hi(); }
}

@Module({ controllers: [Ctl], providers: [Svc] })
export class M {}

export async function make() {
  const app = await NestFactory.create<NestFastifyApplication>(M, new FastifyAdapter(), { logger: false });
  await app.listen(0, '127.0.0.1');
  return app;
}
