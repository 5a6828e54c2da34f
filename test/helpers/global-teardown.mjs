/** Drops the databases this run created and stops the embedded Postgres if one was started. */
import pg from 'pg';

export default async function globalTeardown() {
  const client = new pg.Client({ connectionString: process.env.DATABASE_URL });
  await client.connect();
  const { rows } = await client.query('SELECT datname FROM pg_database WHERE datname LIKE $1', [
    `reconciler_%${process.env.TEST_RUN_ID}%`,
  ]);
  for (const { datname } of rows) await client.query(`DROP DATABASE IF EXISTS "${datname}" WITH (FORCE)`);
  await client.end();
  await globalThis.__embeddedTestPostgres?.stop();
}
