import { Column, Entity, Index, PrimaryGeneratedColumn } from 'typeorm';

/**
 * A session's history: every webhook received (applied, ignored or rejected)
 * and every poll made, with its outcome and the raw payload.
 */
@Entity('session_events')
@Index('session_events_session_idx', ['session_id', 'id'])
export class SessionEventEntity {
  @PrimaryGeneratedColumn('increment', { type: 'bigint' })
  id: string;

  /** Null only for a rejected webhook without a usable session_id. */
  @Column('uuid', { nullable: true })
  session_id: string | null;

  @Column('varchar', { length: 8 })
  channel: 'webhook' | 'poll';

  @Column('varchar', { length: 128, nullable: true })
  event_name: string | null;

  @Column('varchar', { length: 32 })
  outcome: string;

  /** FinBox's HTTP status, for polls. */
  @Column('smallint', { nullable: true })
  http_status: number | null;

  @Column('text', { nullable: true })
  error: string | null;

  @Column('integer', { nullable: true })
  duration_ms: number | null;

  @Column('jsonb', { nullable: true })
  payload: unknown;

  /** sha256 of a webhook's canonical JSON: a redelivery conflicts here and writes nothing. */
  @Index('session_events_dedupe_key_idx', { unique: true })
  @Column('char', { length: 64, nullable: true })
  dedupe_key: string | null;


  @Column('timestamptz', { default: () => 'now()' })
  received_at: Date;
}
