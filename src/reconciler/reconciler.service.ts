import { randomUUID } from 'node:crypto';
import { Injectable, Logger } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import type { AppConfig } from '../config/configuration.js';
import { isDatabaseUnavailable } from '../database/database-errors.js';
import { FinboxClient } from '../finbox/finbox.client.js';
import { MetricsService } from '../metrics/metrics.service.js';
import type { LeasedSession } from '../sessions/sessions.repository.js';
import { SessionsRepository } from '../sessions/sessions.repository.js';
import { type PollAnswer, type PollOutcome, SessionsService } from '../sessions/sessions.service.js';

export interface PassReport {
  /**
   * completed: nothing was due any more; budget_exhausted: RECONCILE_PASS_BUDGET_SECONDS ran out
   * while sessions were still due; stopped: the process is shutting down; access_denied / circuit_open:
   * FinBox refused (the rest was handed back); disabled: no FinBox credentials; failed: the database failed.
   */
  result: 'completed' | 'budget_exhausted' | 'stopped' | 'access_denied' | 'circuit_open' | 'disabled' | 'failed';
  /** Sessions leased (a session leased again after its own poll counts again). */
  leased: number;
  /** Polls whose answer (or transient failure) was applied to the session. */
  polled: number;
  healed: number;
  /** Polls whose result could not be applied; those sessions keep their lease until it runs out. */
  failed: number;
  /** Sessions leased but not polled, given back at their old place in the queue. */
  handed_back: number;
  /** Every FinBox answer or failure, including an access_denied that stopped the pass. */
  outcomes: Partial<Record<PollOutcome, number>>;
  duration_ms: number;
}

/** A leased session, with the lease it is held under and when a poll of it must be over. */
interface Lease {
  session: LeasedSession;
  token: string;
  /** Local clock, LEASE_SAFETY_MS before the lease ends: the FinBox call is cut off here. */
  deadline: number;
}

/**
 * A poll is cut off this long before its lease ends (leaving time to apply
 * the answer before another replica may lease the session), and not started
 * with less than this left.
 */
const LEASE_SAFETY_MS = 1_000;

/**
 * One reconcile pass (CONTRACT §6): lease due sessions in batches, poll them
 * with bounded concurrency (the FinBox client enforces the rate cap), apply
 * each answer, and stop when nothing is due, the time budget is spent, FinBox
 * rejects the credentials, the circuit opens, or the service is shutting down.
 * Sessions leased but not polled are handed back at their old place.
 *
 * One session is never polled by two replicas at once: a lease lasts
 * RECONCILE_LEASE_SECONDS, and the FinBox call of a poll (retries and rate-limit
 * waits included) is cut off before its lease ends; the poll is then recorded
 * as a timeout and the session keeps its own backoff.
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

  /** Stops leasing, lets polls in flight finish, hands back the rest; later passes do nothing. */
  async stop(): Promise<void> {
    this.stopping = true;
    await this.running?.catch(() => undefined);
  }

  private async pass(): Promise<PassReport> {
    const started = Date.now();
    const report: PassReport = {
      result: 'completed',
      leased: 0,
      polled: 0,
      healed: 0,
      failed: 0,
      handed_back: 0,
      outcomes: {},
      duration_ms: 0,
    };
    const finish = (result: PassReport['result']) => {
      report.result = result;
      report.duration_ms = Date.now() - started;
      this.metrics.reconcilePasses.inc({ result });
      // A quiet pass (nothing due, or polling disabled as warned at start-up) is not worth a line every tick.
      if (report.leased > 0 || (result !== 'completed' && result !== 'disabled')) {
        const level = result === 'failed' || result === 'access_denied' ? 'warn' : 'log';
        this.logger[level]({ pass: report }, `Reconcile pass ${result}: ${report.polled} polled, ${report.healed} healed`);
      }
      return report;
    };
    if (this.stopping) return finish('stopped');
    if (!this.finbox.enabled) return finish('disabled');
    if (this.finbox.isCircuitOpen()) return finish('circuit_open');
    const leaseMs = this.config.leaseSeconds * 1000;

    const deadline = started + this.config.passBudgetSeconds * 1000;
    const queue: Lease[] = [];
    /** Leases to give back, released before the next batch is leased and at the end. */
    let handBack: Lease[] = [];
    let exhausted = false;
    let budgetSpent = false;
    let stoppedBy: PassReport['result'] | undefined;
    let leasing: Promise<void> | undefined;

    const release = async () => {
      const leases = handBack;
      handBack = [];
      report.handed_back += leases.length;
      const byToken = new Map<string, LeasedSession[]>();
      for (const { token, session } of leases) byToken.set(token, [...(byToken.get(token) ?? []), session]);
      for (const [token, sessions] of byToken) {
        await this.repository
          .releaseLeases(token, sessions)
          .catch((error) => this.logger.warn({ err: error }, 'Could not hand back leases; they expire by themselves'));
      }
    };

    // One lease query at a time; a worker that finds the queue empty waits for it.
    const lease = () =>
      (leasing ??= (async () => {
        try {
          await release();
          const token = randomUUID();
          const leasedAt = Date.now(); // before the database's now(): the local view of the lease errs short
          const batch = await this.repository.leaseDueSessions(token, this.config.batchSize, this.config.leaseSeconds);
          report.leased += batch.length;
          exhausted = batch.length === 0;
          const deadline = leasedAt + leaseMs - LEASE_SAFETY_MS;
          for (const session of batch) queue.push({ session, token, deadline });
        } catch (error) {
          stoppedBy ??= 'failed';
          this.logger.error({ err: error }, 'Could not lease due sessions');
        } finally {
          leasing = undefined;
        }
      })());

    const next = async (): Promise<Lease | undefined> => {
      for (;;) {
        if (stoppedBy || this.stopping) return undefined;
        const item = queue.shift();
        // Lease the next batch while this one still has work, so that workers never wait for it.
        if (queue.length < this.config.concurrency && !exhausted && Date.now() < deadline) void lease();
        if (item) {
          if (item.deadline - Date.now() >= LEASE_SAFETY_MS) return item;
          handBack.push(item); // too little of the lease left for a poll
          continue;
        }
        if (exhausted) return undefined;
        if (Date.now() >= deadline) {
          budgetSpent = true;
          return undefined;
        }
        await lease();
      }
    };

    /** Applies one FinBox answer to its session and counts it in the report. */
    const applyOne = async (item: Lease, answer: PollAnswer, durationMs: number): Promise<void> => {
      let result;
      try {
        result = await this.sessions.applyPollAnswer({ ...item.session, lease_token: item.token }, answer, durationMs);
      } catch (error) {
        // The session keeps its lease until it runs out, then is polled again; the other workers go on.
        report.failed += 1;
        this.logger.error({ err: error, session_id: item.session.session_id }, 'Poll could not be applied');
        if (isDatabaseUnavailable(error)) stoppedBy ??= 'failed';
        return;
      }
      const { outcome, healed } = result;
      if (outcome === 'circuit_open' || outcome === 'not_configured') {
        handBack.push(item);
        stoppedBy ??= outcome === 'circuit_open' ? 'circuit_open' : 'disabled';
        return;
      }
      report.outcomes[outcome] = (report.outcomes[outcome] ?? 0) + 1;
      if (outcome === 'access_denied') {
        // Recorded in the session's history, but the session itself is left as it was.
        handBack.push(item);
        stoppedBy ??= 'access_denied';
        return;
      }
      report.polled += 1;
      if (healed) report.healed += 1;
    };

    /**
     * RECONCILE_CONCURRENCY workers, each with one FinBox call in flight at a
     * time. Writing an answer to the database does not hold a worker: it goes
     * on to its next FinBox call while the write completes (at most as many
     * writes pending as there are workers).
     */
    const applying = new Set<Promise<void>>();
    const worker = async () => {
      try {
        for (let item = await next(); item; item = await next()) {
          const cutOff = AbortSignal.timeout(Math.max(0, item.deadline - Date.now()));
          const { answer, durationMs } = await this.sessions.askFinbox(item.session.session_id, cutOff);
          const write = applyOne(item, answer, durationMs).finally(() => applying.delete(write));
          applying.add(write);
          if (applying.size >= this.config.concurrency) await Promise.race(applying);
          // A refusal from FinBox stops the pass before the next call, not after the write.
          if (answer.failure?.kind === 'access_denied' || answer.failure?.kind === 'circuit_open') await write;
        }
      } catch (error) {
        // Not expected (askFinbox, applyOne and lease catch their own errors), but never leave a pass half-reported.
        stoppedBy ??= 'failed';
        this.logger.error({ err: error }, 'Reconcile worker failed');
      }
    };

    await Promise.all(Array.from({ length: this.config.concurrency }, worker));
    await Promise.all(applying);
    await leasing; // a batch leased ahead is handed back with the rest
    handBack.push(...queue.splice(0));
    await release();
    return finish(stoppedBy ?? (this.stopping ? 'stopped' : budgetSpent ? 'budget_exhausted' : 'completed'));
  }
}
