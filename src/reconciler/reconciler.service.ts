import { randomUUID } from 'node:crypto';
import { Injectable, Logger } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import type { AppConfig } from '../config/configuration.js';
import { isDatabaseUnavailable } from '../database/database-errors.js';
import { FinboxClient } from '../finbox/finbox.client.js';
import { MetricsService } from '../metrics/metrics.service.js';
import type { LeasedSession } from '../sessions/sessions.repository.js';
import { SessionsRepository } from '../sessions/sessions.repository.js';
import { type PollOutcome, SessionsService } from '../sessions/sessions.service.js';

export interface PassReport {
  result: 'completed' | 'stopped' | 'access_denied' | 'circuit_open' | 'disabled' | 'failed';
  leased: number;
  polled: number;
  healed: number;
  outcomes: Partial<Record<PollOutcome, number>>;
  duration_ms: number;
}

/** A lease this close to running out is handed back instead of polled: another replica may take it any moment. */
const LEASE_SAFETY_MS = 2_000;

/**
 * One reconcile pass (CONTRACT §6): lease due sessions in batches, poll them
 * with bounded concurrency (the FinBox client enforces the rate cap), apply
 * each answer, and stop when nothing is due, the time budget is spent, FinBox
 * rejects the credentials, the circuit opens, or the service is shutting down.
 * Sessions leased but not polled are handed back at their old place.
 */
@Injectable()
export class ReconcilerService {
  private readonly logger = new Logger(ReconcilerService.name);
  private readonly config: AppConfig['reconcile'];
  private running: Promise<PassReport> | undefined;
  private stopping = false;

  constructor(
    private readonly sessions: SessionsService,
    private readonly repository: SessionsRepository,
    private readonly finbox: FinboxClient,
    private readonly metrics: MetricsService,
    config: ConfigService<AppConfig, true>,
  ) {
    this.config = config.get('reconcile', { infer: true });
  }

  /** Runs a pass, or returns the one already running: passes never overlap within a process. */
  runPass(): Promise<PassReport> {
    this.running ??= this.pass().finally(() => (this.running = undefined));
    return this.running;
  }

  /** Stops leasing, lets polls in flight finish, hands back the rest. */
  async stop(): Promise<void> {
    this.stopping = true;
    await this.running?.catch(() => undefined);
  }

  private async pass(): Promise<PassReport> {
    const started = Date.now();
    const report: PassReport = { result: 'completed', leased: 0, polled: 0, healed: 0, outcomes: {}, duration_ms: 0 };
    const finish = (result: PassReport['result']) => {
      report.result = result;
      report.duration_ms = Date.now() - started;
      this.metrics.reconcilePasses.inc({ result });
      if (report.leased > 0 || result !== 'completed') {
        this.logger.log({ pass: report }, `Reconcile pass ${result}: ${report.polled} polled, ${report.healed} healed`);
      }
      return report;
    };
    if (!this.finbox.enabled) return finish('disabled');
    if (this.finbox.isCircuitOpen()) return finish('circuit_open');

    const token = randomUUID();
    const deadline = started + this.config.passBudgetSeconds * 1000;
    const queue: LeasedSession[] = [];
    const handBack: LeasedSession[] = [];
    let exhausted = false;
    let stoppedBy: PassReport['result'] | undefined;
    let leasing: Promise<void> | undefined;

    const lease = () =>
      (leasing ??= this.repository
        .leaseDueSessions(token, this.config.batchSize, this.config.leaseSeconds)
        .then((batch) => {
          report.leased += batch.length;
          exhausted = batch.length === 0;
          queue.push(...batch);
        })
        .finally(() => (leasing = undefined)));

    const next = async (): Promise<LeasedSession | undefined> => {
      for (;;) {
        if (stoppedBy || this.stopping) return undefined;
        const session = queue.shift();
        if (session) return session;
        if (exhausted || Date.now() >= deadline) return undefined;
        await lease();
      }
    };

    const worker = async () => {
      for (let session = await next(); session; session = await next()) {
        if (Date.now() > new Date(session.lease_expires_at).getTime() - LEASE_SAFETY_MS) {
          handBack.push(session);
          continue;
        }
        let result;
        try {
          result = await this.sessions.poll({ ...session, lease_token: token });
        } catch (error) {
          // The session keeps its lease until it runs out; a database outage ends the pass.
          this.logger.error({ err: error, session_id: session.session_id }, 'Poll could not be applied');
          if (isDatabaseUnavailable(error)) stoppedBy ??= 'failed';
          continue;
        }
        const { outcome, healed } = result;
        if (outcome === 'access_denied' || outcome === 'circuit_open' || outcome === 'not_configured') {
          handBack.push(session);
          stoppedBy ??= outcome === 'access_denied' ? 'access_denied' : 'circuit_open';
          continue;
        }
        report.polled += 1;
        report.healed += healed ? 1 : 0;
        report.outcomes[outcome] = (report.outcomes[outcome] ?? 0) + 1;
      }
    };

    try {
      await Promise.all(Array.from({ length: this.config.concurrency }, worker));
    } catch (error) {
      // Only leasing can throw here (polls are caught above): every worker stops at its next step.
      stoppedBy ??= 'failed';
      this.logger.error({ err: error }, 'Reconcile pass failed');
      await Promise.allSettled([leasing]);
    }
    await this.repository
      .releaseLeases(token, [...handBack, ...queue.splice(0)])
      .catch((error) => this.logger.warn({ err: error }, 'Could not hand back leases; they expire by themselves'));
    return finish(stoppedBy ?? (this.stopping ? 'stopped' : 'completed'));
  }
}
