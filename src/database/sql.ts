import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import type pg from 'pg';
import { DataSource } from 'typeorm';
import type { PostgresDriver } from 'typeorm/driver/postgres/PostgresDriver.js';

/**
 * Plain SQL on the pool TypeORM opened: rows in, rows out, with none of
 * TypeORM's per-query overhead or result reshaping (its raw `query` answers an
 * UPDATE … RETURNING with `[rows, count]`). Repositories use this.
 */
@Injectable()
export class Sql {
  private readonly pool: pg.Pool;

  constructor(@InjectDataSource() dataSource: DataSource) {
    this.pool = (dataSource.driver as PostgresDriver).master as pg.Pool;
  }

  async rows<T = Record<string, unknown>>(text: string, values: unknown[] = []): Promise<T[]> {
    const result = await this.pool.query(text, values);
    return result.rows as T[];
  }

  /**
   * The same, as a named prepared statement: parsed once per connection, its
   * plan reused. For the hot statements whose text never changes (`name` must
   * be unique per text).
   */
  async prepared<T = Record<string, unknown>>(name: string, text: string, values: unknown[] = []): Promise<T[]> {
    const result = await this.pool.query({ name, text, values });
    return result.rows as T[];
  }
}
