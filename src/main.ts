import { rootLogger } from './common/logging.js';
import { createApp } from './bootstrap.js';
import { configFromEnvironment } from './config/configuration.js';
import { type EmbeddedDatabase, startEmbeddedPostgres } from './database/embedded-postgres.mjs';

async function main(): Promise<void> {
  let config = configFromEnvironment();
  const log = rootLogger(config.logLevel);

  let embedded: EmbeddedDatabase | undefined;
  if (!config.database.url) {
    embedded = await startEmbeddedPostgres();
    config = { ...config, database: { ...config.database, url: embedded.url } };
    log.info({ dataDir: embedded.dataDir }, `DATABASE_URL is unset: started an embedded Postgres (${embedded.url.replace(/:[^:@]*@/, ':***@')}), data in ${embedded.dataDir}`);
  }

  const app = await createApp(config);
  await app.listen({ port: config.http.port, host: config.http.host });
  log.info(`Listening on http://${config.http.host}:${config.http.port}`);

  let closing = false;
  const shutdown = async (signal: string) => {
    if (closing) return;
    closing = true;
    log.info(`${signal} received: draining requests and the reconcile pass, then stopping`);
    try {
      await app.close();
      await embedded?.stop();
    } finally {
      process.exit(0);
    }
  };
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
  process.on('SIGINT', () => void shutdown('SIGINT'));
}

main().catch((error) => {
  rootLogger().fatal({ err: error }, 'Start-up failed');
  process.exit(1);
});
