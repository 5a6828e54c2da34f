import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { startApp, type TestApp } from '../helpers/app.js';
import { fixture, withSession } from '../helpers/fixtures.js';
import { countBy, cursorPosition, eventually, feedServes, getSession, type Json, readFeed, register } from '../helpers/rest.js';

/**
 * GET /v1/sessions as a change feed (CONTRACT §4.2): keyset pagination in a
 * stable order, and "a consumer that keeps following next_cursor sees every
 * change at least once, even when concurrent writes commit out of order".
 *
 * Positions are (change_xid, session_id), change_xid being the id of the
 * writing transaction; a page only holds rows written by transactions older
 * than every transaction (of this database) still running.
 */
describe('change feed', () => {
  let sut: TestApp;

  beforeAll(async () => {
    sut = await startApp();
  });
  afterAll(async () => {
    await sut.close();
  });

  const ids = (items: Json[]) => items.map((item) => item.session_id as string);
  const completionOf = (sessionId: string) => withSession(fixture('completion-documented'), sessionId);
  const registerMany = async (count: number, reference: string) =>
    (await Promise.all(Array.from({ length: count }, () => register(sut, { reference })))).map(({ session }) => session.session_id as string);
  const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

  it('visits every session exactly once, in a stable order, whatever the page size', async () => {
    const created = await registerMany(37, 'keyset');
    const all = await feedServes(sut, created);
    for (const limit of [1, 6, 37, 100, 500]) {
      const read = await readFeed(sut, { limit });
      expect({ limit, ids: ids(read.items) }).toEqual({ limit, ids: ids(all.items) });
      expect([...countBy(ids(read.items)).values()].every((count) => count === 1)).toBe(true);
      // Positions only move forward.
      const positions = read.cursors.map(cursorPosition);
      for (let i = 1; i < positions.length; i++) {
        const [before, after] = [positions[i - 1], positions[i]];
        expect(before.xid < after.xid || (before.xid === after.xid && before.sessionId < after.sessionId)).toBe(true);
      }
    }
    const byReference = await readFeed(sut, { query: 'reference=keyset', limit: 4 });
    expect(ids(byReference.items).sort()).toEqual([...created].sort());
  });

  it('visits every pre-existing session exactly once while new sessions are inserted concurrently', async () => {
    const existing = ids((await feedServes(sut, await registerMany(25, 'before'))).items);
    const inserted: string[] = [];
    let writing = true;
    const writer = (async () => {
      for (let batch = 0; writing && batch < 15; batch++) {
        inserted.push(...(await registerMany(3, 'during')));
        await sleep(5);
      }
    })();
    let during: Awaited<ReturnType<typeof readFeed>>;
    try {
      during = await readFeed(sut, {
        limit: 4,
        // Interleave deterministically too: inserts land between the first pages.
        between: async (page) => {
          if (page <= 8) inserted.push(...(await registerMany(2, 'during')));
        },
      });
    } finally {
      writing = false;
      await writer;
    }
    const seen = countBy(ids(during.items));
    for (const id of existing) expect({ id, times: seen.get(id) }).toEqual({ id, times: 1 });
    for (const [id, times] of seen) expect({ id, times }).toEqual({ id, times: 1 });
    expect(inserted.length).toBeGreaterThan(10);

    // Continuing from where it stopped, the consumer gets the rest of the new sessions, each once overall.
    await feedServes(sut, inserted);
    const rest = await readFeed(sut, { cursor: during.resume, limit: 4 });
    const overall = countBy([...ids(during.items), ...ids(rest.items)]);
    for (const id of inserted) expect({ id, times: overall.get(id) }).toEqual({ id, times: 1 });
  });

  it('serves a session again after it changes, and resume_cursor gives only what changed since', async () => {
    const [changing] = await registerMany(1, 'resume');
    const caughtUp = await feedServes(sut, [changing]);
    expect(caughtUp.resume).toEqual(expect.any(String));

    const nothing = await readFeed(sut, { cursor: caughtUp.resume });
    expect(nothing.items).toEqual([]);
    expect(nothing.resume).toBe(caughtUp.resume); // an empty page keeps the consumer where it was

    expect((await sut.webhook(completionOf(changing))).status).toBe(200);
    const changed = await eventually(async () => {
      const read = await readFeed(sut, { cursor: caughtUp.resume });
      return read.items.length > 0 ? read : undefined;
    });
    expect(changed.items).toEqual([await getSession(sut, changing)]);
    expect(changed.items[0]).toMatchObject({ status: 'COMPLETED' });
  });

  it('does not let a consumer pass a change that commits late, and serves it once committed', async () => {
    const [a, b] = await registerMany(2, 'late');
    const start = await feedServes(sut, [a, b]);
    const observer = await sut.db.client();

    // Transaction T_A takes its position (its transaction id) now, but commits only later.
    const late = await sut.db.client();
    await late.query('BEGIN');
    let committed = false;
    let positionOfA: bigint;
    let bView: Json;
    try {
      const { rows } = await late.query(
        `UPDATE sessions SET reference = 'late-commit', updated_at = now(), change_xid = pg_current_xact_id()::text::bigint
         WHERE session_id = $1 RETURNING change_xid`,
        [a],
      );
      positionOfA = BigInt(rows[0].change_xid);
      await sleep(5);

      // Meanwhile B changes through the service, and commits: its position is after A's.
      expect((await sut.webhook(completionOf(b))).status).toBe(200);
      bView = await getSession(sut, b);
      expect(bView.status).toBe('COMPLETED');
      const naive = await observer.query('SELECT session_id, change_xid FROM sessions WHERE session_id = ANY($1)', [[a, b]]);
      const positionOfB = BigInt(naive.rows.find((row) => row.session_id === b).change_xid);
      // Contrast: a feed serving every committed row would hand out B, at a position after A's uncommitted one,
      // and a consumer taking its cursor from B would never come back for A.
      expect(positionOfB > positionOfA).toBe(true);
      expect(naive.rows.find((row) => row.session_id === a).change_xid).not.toBe(rows[0].change_xid); // A's write is invisible

      // The consumer follows the feed (from where it was, and from the beginning): it never gets past A's position.
      for (const cursor of [start.resume, null]) {
        const during = await readFeed(sut, { cursor, limit: 2 });
        expect(ids(during.items)).not.toContain(b);
        for (const position of [...during.cursors, during.resume].filter((c): c is string => c !== null).map(cursorPosition)) {
          expect(position.xid < positionOfA).toBe(true);
        }
        if (cursor) expect(during.items).toEqual([]);
      }
      await late.query('COMMIT');
      committed = true;
    } finally {
      if (!committed) await late.query('ROLLBACK');
    }

    // Once A commits, the consumer continuing from its last position sees both changes, A's included, each once.
    const after = await eventually(async () => {
      const read = await readFeed(sut, { cursor: start.resume, limit: 1 });
      return ids(read.items).includes(b) && ids(read.items).includes(a) ? read : undefined;
    });
    expect([...countBy(ids(after.items)).values()].every((count) => count === 1)).toBe(true);
    expect(after.items.find((item: Json) => item.session_id === a)).toMatchObject({ reference: 'late-commit' });
    expect(after.items.find((item: Json) => item.session_id === b)).toMatchObject({ status: 'COMPLETED' });

    // Contrast: A's change carries an updated_at EARLIER than B's. A consumer paging by updated_at that had
    // already read B (before A committed) continues after B's updated_at and never sees A's change.
    const aView = await getSession(sut, a);
    expect(Date.parse(aView.updated_at)).toBeLessThan(Date.parse(bView!.updated_at));
    const byTime = await readFeed(sut, { query: `updated_after=${encodeURIComponent(bView!.updated_at)}` });
    expect(ids(byTime.items)).not.toContain(a);
  });

  it('is not held back by a transaction open in another database of the same server', async () => {
    const other = new pg.Client({ connectionString: process.env.DATABASE_URL });
    other.on('error', () => undefined);
    await other.connect();
    try {
      await other.query('BEGIN');
      await other.query('SELECT pg_current_xact_id()'); // holds a transaction id, as a writer would
      const [fresh] = await registerMany(1, 'elsewhere');
      // Served at once (a snapshot-xmin horizon would hold it back until the other transaction ends).
      const read = await readFeed(sut, { query: 'reference=elsewhere' });
      expect(ids(read.items)).toEqual([fresh]);
      await other.query('ROLLBACK');
    } finally {
      await other.end();
    }
  });

  it('is held back by a write transaction open in this database until it ends', async () => {
    const blocker = await sut.db.client();
    await blocker.query('BEGIN');
    await blocker.query('SELECT pg_current_xact_id()');
    let fresh: string;
    try {
      [fresh] = await registerMany(1, 'blocked');
      const read = await readFeed(sut, { query: 'reference=blocked' });
      expect(read.items).toEqual([]);
    } finally {
      await blocker.query('ROLLBACK');
    }
    await expect(feedServes(sut, [fresh!], 'reference=blocked')).resolves.toMatchObject({ items: [{ session_id: fresh! }] });
  });
});
