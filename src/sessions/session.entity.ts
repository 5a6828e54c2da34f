import { Column, Entity, Index, PrimaryColumn } from 'typeorm';
import { POLLED_PREDICATE, STATUS_EXPRESSION, type SessionStatus } from './session-status.js';

/**
 * One tracked BankConnect session. Column names are snake_case and identical to
 * the REST field names; all reads and writes go through SessionsRepository's SQL.
 */
@Entity('sessions')
@Index('sessions_due_idx', ['next_poll_at'], { where: POLLED_PREDICATE })
@Index('sessions_feed_idx', ['change_xid', 'session_id'])
@Index('sessions_status_feed_idx', ['status', 'change_xid', 'session_id'])
@Index('sessions_reference_idx', ['reference', 'change_xid', 'session_id'], { where: 'reference IS NOT NULL' })
export class SessionEntity {
  @PrimaryColumn('uuid')
  session_id: string;

  @Column({ type: 'varchar', length: 16, generatedType: 'STORED', asExpression: STATUS_EXPRESSION })
  status: SessionStatus;

  @Column('varchar', { length: 8, nullable: true })
  completed_via: 'webhook' | 'poll' | null;

  /** The history event that completed the session (webhook or poll). */
  @Column('bigint', { nullable: true })
  completed_event_id: string | null;

  @Column('varchar', { length: 128, nullable: true })
  reference: string | null;

  @Column('jsonb', { default: {} })
  metadata: Record<string, unknown>;

  @Column('date', { nullable: true })
  session_date_from: string | null;

  @Column('date', { nullable: true })
  session_date_to: string | null;

  @Column('jsonb', { nullable: true })
  enrichment: Record<string, unknown> | null;

  @Column('timestamptz', { nullable: true })
  expires_at: Date | null;

  @Column('timestamptz', { default: () => 'now()' })
  tracked_since: Date;

  @Column('timestamptz', { nullable: true })
  confirmed_at: Date | null;

  @Column('timestamptz', { nullable: true })
  in_progress_at: Date | null;

  @Column('timestamptz', { nullable: true })
  completed_at: Date | null;

  @Column('timestamptz', { nullable: true })
  expired_at: Date | null;

  @Column('timestamptz', { nullable: true })
  deleted_at: Date | null;

  @Column('timestamptz', { nullable: true })
  not_found_at: Date | null;

  @Column('timestamptz', { nullable: true })
  last_webhook_at: Date | null;

  @Column('timestamptz', { nullable: true })
  last_polled_at: Date | null;

  /** When the reconciler polls next; while leased, when the lease runs out. */
  @Column('timestamptz', { nullable: true })
  next_poll_at: Date | null;

  @Column('integer', { default: 0 })
  poll_attempts: number;

  @Column('text', { nullable: true })
  last_poll_error: string | null;

  @Column('timestamptz', { nullable: true })
  gave_up_at: Date | null;

  /** Set while one reconciler pass holds the session (see SessionsRepository.leaseDueSessions). */
  @Column('uuid', { nullable: true })
  lease_token: string | null;

  @Column('timestamptz', { default: () => 'now()' })
  updated_at: Date;

  /** Id of the last transaction that changed the row: the change-feed position (see SessionsRepository.list). */
  @Column('bigint')
  change_xid: string;
}
