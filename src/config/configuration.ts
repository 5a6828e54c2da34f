import { existsSync } from 'node:fs';
import type { DynamicModule } from '@nestjs/common';
import { ConfigModule } from '@nestjs/config';
import { plainToInstance, Transform } from 'class-transformer';
import {
  IsBoolean,
  IsIn,
  IsInt,
  IsNumber,
  IsOptional,
  IsPositive,
  IsString,
  Matches,
  Max,
  Min,
  MinLength,
  validateSync,
  ValidationError,
} from 'class-validator';
import { validateCronExpression } from 'cron';

/**
 * Every environment variable the service reads (CONTRACT §2), validated once
 * at boot. Nothing outside this folder reads `process.env`. Each type check is
 * the last decorator of its field, so that it is checked first.
 */

const list = ({ value }: { value: unknown }) =>
  typeof value === 'string'
    ? value
        .split(',')
        .map((item) => item.trim())
        .filter((item) => item.length > 0)
    : value;
const bool = ({ value }: { value: unknown }) => {
  if (typeof value !== 'string') return value;
  const word = value.trim().toLowerCase();
  if (['true', '1', 'yes', 'on'].includes(word)) return true;
  if (['false', '0', 'no', 'off'].includes(word)) return false;
  return value;
};
const num = ({ value }: { value: unknown }) =>
  typeof value === 'string' && value.trim() !== '' ? Number(value) : value;

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

export class EnvironmentVariables {
  @IsOptional() @IsString()
  NODE_ENV?: string;

  @Transform(num) @Min(0) @Max(65535) @IsInt()
  PORT = 3000;

  @IsString() @MinLength(1)
  HOST = '0.0.0.0';

  @IsOptional() @Matches(/^postgres(ql)?:\/\/\S+$/, { message: 'must be a postgres:// URL' })
  DATABASE_URL?: string;

  @Matches(/^https?:\/\/[^\s/]+(\/\S*)?$/, { message: 'must be an http(s) URL' })
  FINBOX_BASE_URL = 'https://apis.bankconnect.finbox.in/bank-connect';

  @Matches(/^[A-Za-z0-9._-]+$/, { message: 'must be a path segment such as v1' })
  FINBOX_API_VERSION = 'v1';

  @IsOptional() @IsString()
  FINBOX_API_KEY?: string;

  @IsOptional() @IsString()
  FINBOX_SERVER_HASH?: string;

  @Transform(num) @Min(1) @IsInt()
  FINBOX_TIMEOUT_MS = 10_000;

  @Transform(num) @IsPositive() @IsNumber()
  FINBOX_MAX_RPS = 10;

  /** Attempts per FinBox request for transient failures (1 = no retry). */
  @Transform(num) @Min(1) @Max(10) @IsInt()
  FINBOX_MAX_ATTEMPTS = 3;

  /** How long the circuit stays open before one trial request is let through. */
  @Transform(num) @Min(0) @IsNumber()
  FINBOX_BREAKER_COOLDOWN_SECONDS = 30;

  @IsOptional() @Transform(list) @IsString({ each: true })
  WEBHOOK_TOKENS?: string[];

  @IsOptional() @Transform(list) @IsString({ each: true })
  API_KEYS?: string[];

  @IsOptional() @Matches(/^https?:\/\/\S+$/, { message: 'must be an http(s) URL' })
  PUBLIC_WEBHOOK_URL?: string;

  @Transform(num) @IsInt()
  FINBOX_WEBHOOK_MODE = 1;

  @Transform(bool) @IsBoolean()
  RECONCILE_ENABLED = true;

  @IsString()
  RECONCILE_CRON = '*/30 * * * * *';

  @Transform(num) @Min(0) @IsNumber()
  RECONCILE_GRACE_SECONDS = 900;

  @Transform(num) @IsPositive() @IsNumber()
  RECONCILE_MIN_INTERVAL_SECONDS = 60;

  @Transform(num) @IsPositive() @IsNumber()
  RECONCILE_MAX_INTERVAL_SECONDS = 3600;

  @Transform(num) @IsPositive() @IsNumber()
  RECONCILE_MAX_AGE_HOURS = 72;

  @Transform(num) @Min(1) @Max(10_000) @IsInt()
  RECONCILE_BATCH_SIZE = 200;

  @Transform(num) @Min(1) @Max(1_000) @IsInt()
  RECONCILE_CONCURRENCY = 16;

  /** How long a leased session stays reserved for one replica; a crashed replica's leases come back after this. */
  @Transform(num) @Min(5) @IsNumber()
  RECONCILE_LEASE_SECONDS = 120;

  /** A pass stops leasing new work after this long; the next cron tick continues. */
  @Transform(num) @IsPositive() @IsNumber()
  RECONCILE_PASS_BUDGET_SECONDS = 600;

  @Transform(num) @Min(1) @IsInt()
  WEBHOOK_BODY_LIMIT_BYTES = 1_048_576;

  @Transform(num) @Min(1) @Max(1_000) @IsInt()
  DATABASE_POOL_SIZE = 20;

  @IsIn(LOG_LEVELS)
  LOG_LEVEL: (typeof LOG_LEVELS)[number] = 'info';
}

/** The typed configuration every module reads (through ConfigService<AppConfig, true>). */
export interface AppConfig {
  production: boolean;
  http: { port: number; host: string; bodyLimitBytes: number };
  database: { url: string | undefined; poolSize: number };
  finbox: {
    baseUrl: string;
    apiVersion: string;
    /** Both set, or polling is disabled. Never logged. */
    credentials: { apiKey: string; serverHash: string } | undefined;
    timeoutMs: number;
    maxRps: number;
    maxAttempts: number;
    breakerCooldownMs: number;
    publicWebhookUrl: string | undefined;
    webhookMode: number;
  };
  auth: {
    /** undefined: accept webhooks without a token (never in production). */
    webhookTokens: string[] | undefined;
    /** undefined: the REST API is open (never in production). */
    apiKeys: string[] | undefined;
  };
  reconcile: {
    enabled: boolean;
    cron: string;
    graceSeconds: number;
    minIntervalSeconds: number;
    maxIntervalSeconds: number;
    maxAgeHours: number;
    batchSize: number;
    concurrency: number;
    leaseSeconds: number;
    passBudgetSeconds: number;
  };
  logLevel: (typeof LOG_LEVELS)[number];
}

export class ConfigurationError extends Error {}

/** Variables whose values may hold secrets: never echoed in a configuration error. */
const SECRET = new Set(['DATABASE_URL', 'FINBOX_API_KEY', 'FINBOX_SERVER_HASH', 'WEBHOOK_TOKENS', 'API_KEYS', 'PUBLIC_WEBHOOK_URL']);

function describe(errors: ValidationError[], raw: Record<string, string>): string[] {
  return errors.map((error) => {
    const problems = Object.values(error.constraints ?? {})
      .map((message) => message.replace(new RegExp(`^${error.property} `), ''))
      .join(', ');
    const got = SECRET.has(error.property) ? '' : ` (got ${JSON.stringify(raw[error.property] ?? error.value)})`;
    return `${error.property} ${problems}${got}`;
  });
}

/** Validates the raw environment; throws ConfigurationError with one message naming each bad variable. */
export function loadConfig(raw: Record<string, string | undefined>): AppConfig {
  const given = stripUnset(raw);
  const env = plainToInstance(EnvironmentVariables, given);
  const problems = describe(validateSync(env, { stopAtFirstError: true }), given);

  if (!validateCronExpression(env.RECONCILE_CRON).valid) {
    problems.push(`RECONCILE_CRON is not a valid cron expression (got ${JSON.stringify(env.RECONCILE_CRON)})`);
  }
  if (env.RECONCILE_MAX_INTERVAL_SECONDS < env.RECONCILE_MIN_INTERVAL_SECONDS) {
    problems.push('RECONCILE_MAX_INTERVAL_SECONDS must not be below RECONCILE_MIN_INTERVAL_SECONDS');
  }
  if (Boolean(env.FINBOX_API_KEY) !== Boolean(env.FINBOX_SERVER_HASH)) {
    problems.push('FINBOX_API_KEY and FINBOX_SERVER_HASH must be set together');
  }
  const production = env.NODE_ENV === 'production';
  if (production) {
    for (const name of ['DATABASE_URL', 'WEBHOOK_TOKENS', 'API_KEYS'] as const) {
      const value = env[name];
      if (value === undefined || value.length === 0) {
        problems.push(`${name} must be set when NODE_ENV=production`);
      }
    }
  }
  if (problems.length > 0) {
    throw new ConfigurationError(`Invalid configuration: ${problems.join('; ')}`);
  }

  return {
    production,
    http: { port: env.PORT, host: env.HOST, bodyLimitBytes: env.WEBHOOK_BODY_LIMIT_BYTES },
    database: { url: env.DATABASE_URL, poolSize: env.DATABASE_POOL_SIZE },
    finbox: {
      baseUrl: env.FINBOX_BASE_URL.replace(/\/+$/, ''),
      apiVersion: env.FINBOX_API_VERSION,
      credentials:
        env.FINBOX_API_KEY && env.FINBOX_SERVER_HASH
          ? { apiKey: env.FINBOX_API_KEY, serverHash: env.FINBOX_SERVER_HASH }
          : undefined,
      timeoutMs: env.FINBOX_TIMEOUT_MS,
      maxRps: env.FINBOX_MAX_RPS,
      maxAttempts: env.FINBOX_MAX_ATTEMPTS,
      breakerCooldownMs: env.FINBOX_BREAKER_COOLDOWN_SECONDS * 1000,
      publicWebhookUrl: env.PUBLIC_WEBHOOK_URL,
      webhookMode: env.FINBOX_WEBHOOK_MODE,
    },
    auth: {
      webhookTokens: env.WEBHOOK_TOKENS?.length ? env.WEBHOOK_TOKENS : undefined,
      apiKeys: env.API_KEYS?.length ? env.API_KEYS : undefined,
    },
    reconcile: {
      enabled: env.RECONCILE_ENABLED,
      cron: env.RECONCILE_CRON,
      graceSeconds: env.RECONCILE_GRACE_SECONDS,
      minIntervalSeconds: env.RECONCILE_MIN_INTERVAL_SECONDS,
      maxIntervalSeconds: env.RECONCILE_MAX_INTERVAL_SECONDS,
      maxAgeHours: env.RECONCILE_MAX_AGE_HOURS,
      batchSize: env.RECONCILE_BATCH_SIZE,
      concurrency: env.RECONCILE_CONCURRENCY,
      leaseSeconds: env.RECONCILE_LEASE_SECONDS,
      passBudgetSeconds: env.RECONCILE_PASS_BUDGET_SECONDS,
    },
    logLevel: env.LOG_LEVEL,
  };
}

/** An unset or empty variable takes its default. */
function stripUnset(raw: Record<string, string | undefined>): Record<string, string> {
  return Object.fromEntries(
    Object.entries(raw).filter((entry): entry is [string, string] => entry[1] !== undefined && entry[1].trim() !== ''),
  );
}

/** The process environment, with a `.env` file in the working directory loaded first when present. */
export function readEnvironment(): Record<string, string | undefined> {
  if (existsSync('.env')) process.loadEnvFile('.env');
  return process.env;
}

/** For entry points: the validated configuration, or its one-line message on stderr and exit code 1. */
export function configFromEnvironment(): AppConfig {
  try {
    return loadConfig(readEnvironment());
  } catch (error) {
    if (!(error instanceof ConfigurationError)) throw error;
    console.error(error.message);
    process.exit(1);
  }
}

/** ConfigModule serving an already validated AppConfig (read it with ConfigService<AppConfig, true>). */
export function configModule(config: AppConfig): Promise<DynamicModule> {
  return ConfigModule.forRoot({ isGlobal: true, ignoreEnvFile: true, skipProcessEnv: true, load: [() => config] });
}
