/**
 * `npm run finbox:register-webhook`: registers PUBLIC_WEBHOOK_URL with FinBox
 * (update_webhook, FINBOX_WEBHOOK_MODE always sent), as PUT /v1/finbox/webhook
 * does, without a database or an HTTP server.
 *
 * Prints FinBox's answer as JSON on stdout (the token in the URL redacted) and
 * exits 0; on failure prints the error on stderr and exits 1.
 */
import 'reflect-metadata';
import { ConsoleLogger, type LogLevel, Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { AppError } from '../common/errors.js';
import { type AppConfig, configFromEnvironment, configModule } from '../config/configuration.js';
import { MetricsModule } from '../metrics/metrics.module.js';
import { FinboxModule } from './finbox.module.js';
import { WebhookRegistrationService } from './webhook-registration.service.js';

/** Warnings and errors on stderr, so that stdout holds nothing but the JSON answer. */
class StderrLogger extends ConsoleLogger {
  protected override printMessages(
    messages: unknown[],
    context?: string,
    logLevel?: LogLevel,
    _stream?: 'stdout' | 'stderr',
    errorStack?: unknown,
    params?: Record<string, unknown>,
  ): void {
    super.printMessages(messages, context, logLevel, 'stderr', errorStack, params);
  }
}

function registrationModule(config: AppConfig) {
  @Module({
    imports: [
      configModule(config),
      MetricsModule,
      FinboxModule,
    ],
  })
  class RegisterWebhookModule {}
  return RegisterWebhookModule;
}

async function main(): Promise<number> {
  const config = configFromEnvironment();
  const app = await NestFactory.createApplicationContext(registrationModule(config), {
    logger: new StderrLogger({ logLevels: ['warn', 'error', 'fatal'] }),
    abortOnError: false,
  });
  try {
    const registration = await app.get(WebhookRegistrationService).register();
    console.log(JSON.stringify(registration, null, 2));
    return 0;
  } catch (error) {
    if (!(error instanceof AppError)) throw error;
    console.error(`${error.code}: ${error.message}`);
    return 1;
  } finally {
    await app.close();
  }
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    console.error(error instanceof Error ? error.message : String(error));
    process.exitCode = 1;
  },
);
