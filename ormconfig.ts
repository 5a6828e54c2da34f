/**
 * The TypeORM CLI's data source (`npm run migration:generate|run|revert`),
 * built by the same function as the app's. With DATABASE_URL unset it starts
 * the embedded Postgres, like `npm start`.
 */
import { DataSource } from 'typeorm';
import { loadConfig, readEnvironment } from './src/config/configuration.js';
import { dataSourceOptions } from './src/database/data-source-options.js';
import { startEmbeddedPostgres } from './src/database/embedded-postgres.mjs';

const config = loadConfig(readEnvironment());
const url = config.database.url ?? (await startEmbeddedPostgres()).url;

export default new DataSource(dataSourceOptions(url));
