import { NestFactory } from '@nestjs/core';
import { FastifyAdapter, type NestFastifyApplication } from '@nestjs/platform-fastify';
import { DocumentBuilder, SwaggerModule } from '@nestjs/swagger';
import { Logger } from 'nestjs-pino';
import { AppModule } from './app.module.js';
import { warnIfOpen } from './auth/api-key.guard.js';
import { ErrorEnvelopeFilter } from './common/error.filter.js';
import { logRequest, requestId, rootLogger } from './common/logging.js';
import { validationPipe } from './common/validation.js';
import type { AppConfig } from './config/configuration.js';
import { MetricsService } from './metrics/metrics.service.js';

/** The application exactly as it runs in production; e2e tests boot it through here too. */
export async function createApp(config: AppConfig): Promise<NestFastifyApplication> {
  const adapter = new FastifyAdapter({
    bodyLimit: config.http.bodyLimitBytes,
    trustProxy: true,
    forceCloseConnections: 'idle',
    requestIdHeader: false,
    genReqId: requestId,
  });
  const logger = rootLogger(config.logLevel);
  const app = await NestFactory.create<NestFastifyApplication>(AppModule.forRoot(config, logger), adapter, {
    bufferLogs: true,
    // Fastify's own JSON parser is the only body parser: every other content type is 415.
    bodyParser: false,
  });
  app.useLogger(app.get(Logger));
  app.useGlobalFilters(new ErrorEnvelopeFilter());
  app.useGlobalPipes(validationPipe);

  const fastify = app.getHttpAdapter().getInstance();
  fastify.removeContentTypeParser(['text/plain']);
  fastify.addHook('onRequest', (request, reply, done) => {
    void reply.header('x-request-id', request.id);
    done();
  });
  const metrics = app.get(MetricsService);
  fastify.addHook('onResponse', (request, reply, done) => {
    metrics.httpDuration.observe(
      { method: request.method, route: request.routeOptions.url ?? 'unmatched', status_code: String(reply.statusCode) },
      reply.elapsedTime / 1000,
    );
    logRequest(logger, request, reply);
    done();
  });

  // Built on first request to /docs or /docs-json, not at start-up (less memory for a document rarely read).
  const document = () =>
    SwaggerModule.createDocument(
      app,
      new DocumentBuilder()
        .setTitle('FinBox BankConnect session reconciler')
        .setDescription('Where is session X: webhook receiver, polling reconciler and REST API for FinBox BankConnect sessions.')
        .setVersion('1.0')
        .addBearerAuth()
        .addApiKey({ type: 'apiKey', in: 'header', name: 'x-api-key' }, 'api-key')
        .build(),
    );
  SwaggerModule.setup('docs', app, document, { jsonDocumentUrl: 'docs-json' });

  warnIfOpen(config, app.get(Logger));
  await app.init();
  return app;
}
