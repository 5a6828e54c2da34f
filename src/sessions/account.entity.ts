import { Column, Entity, JoinColumn, ManyToOne, PrimaryColumn, type Relation } from 'typeorm';
import { SessionEntity } from './session.entity.js';

/** A bank account FinBox reported within a session (upserted by account_id). */
@Entity('accounts')
export class AccountEntity {
  @PrimaryColumn('uuid')
  session_id: string;

  @PrimaryColumn('varchar', { length: 128 })
  account_id: string;

  @ManyToOne(() => SessionEntity, { onDelete: 'CASCADE' })
  @JoinColumn({ name: 'session_id' })
  session?: Relation<SessionEntity>;

  @Column('varchar', { length: 64, nullable: true })
  account_number: string | null;

  @Column('varchar', { length: 128, nullable: true })
  bank_name: string | null;

  @Column('varchar', { length: 32, nullable: true })
  account_status: string | null;

  /** `["2023-10", …]`; null until FinBox sent it. */
  @Column('jsonb', { nullable: true })
  months: string[] | null;

  /** `[{ from_date, to_date }]`; null until FinBox sent it. */
  @Column('jsonb', { nullable: true })
  missing_data: Array<{ from_date: string | null; to_date: string | null }> | null;

  /** FinBox's own timestamps for the account. */
  @Column('timestamptz', { nullable: true })
  created_at: Date | null;

  @Column('timestamptz', { nullable: true })
  last_updated_at: Date | null;
}
