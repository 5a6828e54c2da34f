import { Controller, Get, ServiceUnavailableException } from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { HealthCheck, HealthCheckService, HealthIndicatorService, TypeOrmHealthIndicator } from '@nestjs/terminus';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { ApiErrors } from '../common/api-docs.js';
import { AppError, ErrorCode } from '../common/errors.js';
import { FinboxClient } from '../finbox/finbox.client.js';

const INDICATORS = {
  type: 'object',
  additionalProperties: { type: 'object', properties: { status: { type: 'string', enum: ['up', 'down', 'degraded'] } }, additionalProperties: true },
};

/** The body of a 200 from /health/ready (Terminus' result; the 503 carries it in the error envelope's details). */
const READY_SCHEMA = {
  type: 'object',
  required: ['status', 'details'],
  properties: {
    status: { type: 'string', enum: ['ok', 'degraded'] },
    info: INDICATORS,
    error: INDICATORS,
    details: {
      ...INDICATORS,
      example: {
        database: { status: 'up' },
        migrations: { status: 'up' },
        finbox: { status: 'up', polling: 'enabled', circuit: 'closed', credentials: 'accepted', last_error: null },
      },
    },
  },
};

@ApiTags('operations')
@Controller('health')
export class HealthController {
  constructor(
    private readonly health: HealthCheckService,
    private readonly database: TypeOrmHealthIndicator,
    private readonly indicators: HealthIndicatorService,
    private readonly finbox: FinboxClient,
    @InjectDataSource() private readonly dataSource: DataSource,
  ) {}

  @Get('live')
  @ApiOperation({ summary: 'The process is up' })
  @ApiOkResponse({ schema: { type: 'object', properties: { status: { type: 'string', example: 'ok' } } } })
  live(): { status: 'ok' } {
    return { status: 'ok' };
  }

  /**
   * 200 when the database answers and every migration is applied (status "ok",
   * or "degraded" while polling is disabled, the FinBox circuit is open or
   * FinBox rejected the credentials); 503 SERVICE_UNAVAILABLE otherwise.
   */
  @Get('ready')
  @HealthCheck({ swaggerDocumentation: false, noCache: true })
  @ApiOperation({ summary: 'Database reachable and migrations applied; reports polling and the FinBox circuit' })
  @ApiOkResponse({ description: 'Ready (status "degraded": ready, but polling FinBox is impaired)', schema: READY_SCHEMA })
  @ApiErrors(ErrorCode.SERVICE_UNAVAILABLE)
  async ready() {
    try {
      return await this.health.check([
        () => this.database.pingCheck('database', { timeout: 3_000 }),
        () => this.migrations(),
        () => this.finboxStatus(),
      ]);
    } catch (error) {
      if (error instanceof ServiceUnavailableException) {
        throw new AppError(ErrorCode.SERVICE_UNAVAILABLE, 'Not ready', [error.getResponse()]);
      }
      throw error;
    }
  }

  private async migrations() {
    const check = this.indicators.check('migrations');
    try {
      return (await this.dataSource.showMigrations()) ? check.down({ message: 'pending migrations' }) : check.up();
    } catch {
      return check.down({ message: 'cannot read the migrations table' });
    }
  }

  private finboxStatus() {
    const check = this.indicators.check('finbox');
    const health = this.finbox.health();
    const healthy = health.polling === 'enabled' && health.circuit !== 'open' && health.credentials !== 'rejected';
    return healthy ? check.up({ ...health }) : check.degraded({ ...health });
  }
}
