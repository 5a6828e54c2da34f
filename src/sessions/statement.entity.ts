import { Column, Entity, JoinColumn, ManyToOne, PrimaryColumn, type Relation } from 'typeorm';
import { AccountEntity } from './account.entity.js';

/** A statement uploaded for an account (upserted by statement_id within the session). */
@Entity('statements')
export class StatementEntity {
  @PrimaryColumn('uuid')
  session_id: string;

  @PrimaryColumn('varchar', { length: 128 })
  statement_id: string;

  @Column('varchar', { length: 128 })
  account_id: string;

  @ManyToOne(() => AccountEntity, { onDelete: 'CASCADE' })
  @JoinColumn([
    { name: 'session_id', referencedColumnName: 'session_id' },
    { name: 'account_id', referencedColumnName: 'account_id' },
  ])
  account?: Relation<AccountEntity>;

  @Column('varchar', { length: 64, nullable: true })
  statement_status: string | null;

  @Column('varchar', { length: 128, nullable: true })
  error_code: string | null;

  @Column('text', { nullable: true })
  error_message: string | null;

  @Column('varchar', { length: 64, nullable: true })
  source: string | null;

  @Column('date', { nullable: true })
  date_from: string | null;

  @Column('date', { nullable: true })
  date_to: string | null;

  @Column('timestamptz', { nullable: true })
  created_at: Date | null;

  /** The owning account's last_updated_at when this version was written: older data never overwrites newer. */
  @Column('timestamptz', { nullable: true })
  account_last_updated_at: Date | null;
}
