import type { MigrationInterface, QueryRunner } from 'typeorm';

export class InitialSchema1795744808052 implements MigrationInterface {
    name = 'InitialSchema1795744808052'

    public async up(queryRunner: QueryRunner): Promise<void> {
        // Reviewed: TypeORM records the generated column's expression for schema diffs; the database name is
        // whichever database this runs in (the generator wrote the name of the one it was generated against).
        await queryRunner.query(`INSERT INTO "typeorm_metadata"("database", "schema", "table", "type", "name", "value") VALUES (current_database(), current_schema(), $1, $2, $3, $4)`, ["sessions","GENERATED_COLUMN","status","CASE\n  WHEN deleted_at IS NOT NULL THEN 'DELETED'\n  WHEN completed_at IS NOT NULL THEN 'COMPLETED'\n  WHEN expired_at IS NOT NULL THEN 'EXPIRED'\n  WHEN in_progress_at IS NOT NULL THEN 'IN_PROGRESS'\n  WHEN confirmed_at IS NULL AND not_found_at IS NOT NULL THEN 'NOT_FOUND'\n  ELSE 'NO_UPLOAD'\nEND"]);
        await queryRunner.query(`CREATE TABLE "sessions" ("session_id" uuid NOT NULL, "status" character varying(16) GENERATED ALWAYS AS (CASE
  WHEN deleted_at IS NOT NULL THEN 'DELETED'
  WHEN completed_at IS NOT NULL THEN 'COMPLETED'
  WHEN expired_at IS NOT NULL THEN 'EXPIRED'
  WHEN in_progress_at IS NOT NULL THEN 'IN_PROGRESS'
  WHEN confirmed_at IS NULL AND not_found_at IS NOT NULL THEN 'NOT_FOUND'
  ELSE 'NO_UPLOAD'
END) STORED NOT NULL, "completed_via" character varying(8), "completed_event_id" bigint, "reference" character varying(128), "metadata" jsonb NOT NULL DEFAULT '{}'::jsonb, "session_date_from" date, "session_date_to" date, "enrichment" jsonb, "expires_at" TIMESTAMP WITH TIME ZONE, "tracked_since" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(), "confirmed_at" TIMESTAMP WITH TIME ZONE, "in_progress_at" TIMESTAMP WITH TIME ZONE, "completed_at" TIMESTAMP WITH TIME ZONE, "expired_at" TIMESTAMP WITH TIME ZONE, "deleted_at" TIMESTAMP WITH TIME ZONE, "not_found_at" TIMESTAMP WITH TIME ZONE, "last_webhook_at" TIMESTAMP WITH TIME ZONE, "last_polled_at" TIMESTAMP WITH TIME ZONE, "next_poll_at" TIMESTAMP WITH TIME ZONE, "poll_attempts" integer NOT NULL DEFAULT '0', "last_poll_error" text, "gave_up_at" TIMESTAMP WITH TIME ZONE, "lease_token" uuid, "updated_at" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(), "change_xid" bigint NOT NULL, CONSTRAINT "PK_9340188c93349808f10d1db74a8" PRIMARY KEY ("session_id"))`);
        await queryRunner.query(`CREATE INDEX "sessions_reference_idx" ON "sessions"  ("reference", "change_xid", "session_id") WHERE reference IS NOT NULL`);
        await queryRunner.query(`CREATE INDEX "sessions_status_feed_idx" ON "sessions"  ("status", "change_xid", "session_id") `);
        await queryRunner.query(`CREATE INDEX "sessions_feed_idx" ON "sessions"  ("change_xid", "session_id") `);
        await queryRunner.query(`CREATE INDEX "sessions_due_idx" ON "sessions"  ("next_poll_at") WHERE status IN ('NO_UPLOAD', 'IN_PROGRESS') AND gave_up_at IS NULL`);
        await queryRunner.query(`CREATE TABLE "accounts" ("session_id" uuid NOT NULL, "account_id" character varying(128) NOT NULL, "account_number" character varying(64), "bank_name" character varying(128), "account_status" character varying(32), "months" jsonb, "missing_data" jsonb, "created_at" TIMESTAMP WITH TIME ZONE, "last_updated_at" TIMESTAMP WITH TIME ZONE, CONSTRAINT "PK_e86e5beecabf294104c35ef7014" PRIMARY KEY ("session_id", "account_id"))`);
        await queryRunner.query(`CREATE TABLE "session_events" ("id" BIGSERIAL NOT NULL, "session_id" uuid, "channel" character varying(8) NOT NULL, "event_name" character varying(128), "outcome" character varying(32) NOT NULL, "http_status" smallint, "error" text, "duration_ms" integer, "payload" jsonb, "dedupe_key" character(64), "received_at" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(), CONSTRAINT "PK_aeae988940cef0a489a14200af3" PRIMARY KEY ("id"))`);
        await queryRunner.query(`CREATE UNIQUE INDEX "session_events_dedupe_key_idx" ON "session_events"  ("dedupe_key") `);
        await queryRunner.query(`CREATE INDEX "session_events_session_idx" ON "session_events"  ("session_id", "id") `);
        await queryRunner.query(`CREATE TABLE "statements" ("session_id" uuid NOT NULL, "statement_id" character varying(128) NOT NULL, "account_id" character varying(128) NOT NULL, "statement_status" character varying(64), "error_code" character varying(128), "error_message" text, "source" character varying(64), "date_from" date, "date_to" date, "created_at" TIMESTAMP WITH TIME ZONE, "account_last_updated_at" TIMESTAMP WITH TIME ZONE, CONSTRAINT "PK_8f1f3d7e2c47e484e4a8fdcaa30" PRIMARY KEY ("session_id", "statement_id"))`);
        await queryRunner.query(`ALTER TABLE "accounts" ADD CONSTRAINT "FK_568aebf4e8bae654f5464c711c1" FOREIGN KEY ("session_id") REFERENCES "sessions"("session_id") ON DELETE CASCADE ON UPDATE NO ACTION`);
        await queryRunner.query(`ALTER TABLE "statements" ADD CONSTRAINT "FK_64e48b3015058ec8ac723d326ec" FOREIGN KEY ("session_id", "account_id") REFERENCES "accounts"("session_id","account_id") ON DELETE CASCADE ON UPDATE NO ACTION`);
    }

    public async down(queryRunner: QueryRunner): Promise<void> {
        await queryRunner.query(`ALTER TABLE "statements" DROP CONSTRAINT "FK_64e48b3015058ec8ac723d326ec"`);
        await queryRunner.query(`ALTER TABLE "accounts" DROP CONSTRAINT "FK_568aebf4e8bae654f5464c711c1"`);
        await queryRunner.query(`DROP TABLE "statements"`);
        await queryRunner.query(`DROP INDEX "public"."session_events_session_idx"`);
        await queryRunner.query(`DROP INDEX "public"."session_events_dedupe_key_idx"`);
        await queryRunner.query(`DROP TABLE "session_events"`);
        await queryRunner.query(`DROP TABLE "accounts"`);
        await queryRunner.query(`DROP INDEX "public"."sessions_due_idx"`);
        await queryRunner.query(`DROP INDEX "public"."sessions_feed_idx"`);
        await queryRunner.query(`DROP INDEX "public"."sessions_status_feed_idx"`);
        await queryRunner.query(`DROP INDEX "public"."sessions_reference_idx"`);
        await queryRunner.query(`DROP TABLE "sessions"`);
        await queryRunner.query(`DELETE FROM "typeorm_metadata" WHERE "type" = $1 AND "name" = $2 AND "database" = current_database() AND "schema" = current_schema() AND "table" = $3`, ["GENERATED_COLUMN","status","sessions"]);
    }

}
