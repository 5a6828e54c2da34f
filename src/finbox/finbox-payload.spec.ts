import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { maskAccountNumber } from '../common/logging.js';
import {
  normaliseWord,
  parseDate,
  parseTimestamp,
  parseUploadStatus,
  parseWebhook,
  PayloadError,
  sessionIdOf,
} from './finbox-payload.js';

/** A FinBox payload from test/fixtures/finbox, a fresh copy each call. */
function fixture(name: string): Record<string, any> {
  return JSON.parse(readFileSync(join(process.cwd(), 'test', 'fixtures', 'finbox', `${name}.json`), 'utf8'));
}

/** The PayloadError a parse throws (fails the test when it does not throw one). */
function payloadError(parse: () => unknown): PayloadError {
  try {
    parse();
  } catch (error) {
    if (error instanceof PayloadError) return error;
    throw error;
  }
  throw new Error('expected a PayloadError');
}

const iso = (date: Date | null | undefined) => date?.toISOString();

describe('parseTimestamp', () => {
  const sut = parseTimestamp;

  it('reads a zone-less timestamp as UTC', () => {
    expect(iso(sut('2024-04-26 12:25:57'))).toBe('2024-04-26T12:25:57.000Z');
    expect(iso(sut('2025-11-13T06:48:44'))).toBe('2025-11-13T06:48:44.000Z');
  });

  it('reads "+00:00" with microseconds, keeping milliseconds', () => {
    expect(iso(sut('2024-04-26 12:25:56.172124+00:00'))).toBe('2024-04-26T12:25:56.172Z');
  });

  it('reads ISO 8601 "Z" with microseconds, keeping milliseconds', () => {
    expect(iso(sut('2024-04-16T07:47:40.806223Z'))).toBe('2024-04-16T07:47:40.806Z');
    expect(iso(sut('2024-04-16t07:47:40.8z'))).toBe('2024-04-16T07:47:40.800Z');
  });

  it('converts other offsets to UTC', () => {
    expect(iso(sut('2024-04-26 17:55:57+05:30'))).toBe('2024-04-26T12:25:57.000Z');
    expect(iso(sut('2024-04-26T08:25:57.5-0400'))).toBe('2024-04-26T12:25:57.500Z');
    expect(iso(sut('2024-04-27 01:25:57+13'))).toBe('2024-04-26T12:25:57.000Z');
    expect(iso(sut('2024-01-01 00:30:00+01:00'))).toBe('2023-12-31T23:30:00.000Z');
  });

  it('rejects what is not a real instant', () => {
    for (const text of [
      '2024-02-30 12:00:00',
      '2023-02-29 12:00:00',
      '2024-13-01 12:00:00',
      '2024-04-26 24:00:00',
      '2024-04-26 12:60:00',
      '2024-04-26 12:25:57+24:00',
      '26/04/2024 12:25:57',
      '1714134357',
      'yesterday',
      '',
    ]) {
      expect(sut(text)).toBeUndefined();
    }
  });

  it('accepts 29 February in a leap year', () => {
    expect(iso(sut('2024-02-29 00:00:00'))).toBe('2024-02-29T00:00:00.000Z');
  });
});

describe('parseDate', () => {
  const sut = parseDate;

  it('reads DD/MM/YYYY and YYYY-MM-DD as YYYY-MM-DD', () => {
    expect(sut('25/10/2023')).toBe('2023-10-25');
    expect(sut('2025-08-11')).toBe('2025-08-11');
    expect(sut(' 29/02/2024 ')).toBe('2024-02-29');
  });

  it('rejects impossible dates and other formats', () => {
    for (const text of ['31/02/2024', '29/02/2023', '2024-13-01', '2024-00-10', '00/01/2024', '10/25/2023', '2023-10', '25-10-2023', '1/2/2024']) {
      expect(sut(text)).toBeUndefined();
    }
  });
});

describe('normaliseWord', () => {
  it('reads status words tolerantly', () => {
    for (const word of ['IN PROGRESS', 'in_progress', 'In-Progress', ' in  progress ', 'IN_PROGRESS']) {
      expect(normaliseWord(word)).toBe('IN_PROGRESS');
    }
  });
});

describe('parseUploadStatus', () => {
  const sut = parseUploadStatus;

  it('normalises the documented response: "" to null, ISO "Z" timestamps', () => {
    const result = sut(fixture('upload-status-documented'));
    expect(result).toEqual({
      session_id: '8702145a-aaa3-4ee0-acb7-9a328b549000',
      upload_status: 'COMPLETED',
      session_date_range: { from_date: null, to_date: null },
      expires_at: null,
      accounts: [
        {
          account_id: '8702145a-aaa3-4ee0-acb7-9a328b54905a',
          account_number: 'XXXXXXXXXX',
          bank_name: 'icici',
          account_status: 'COMPLETED',
          months: [],
          missing_data: null,
          created_at: new Date('2024-04-16T07:47:42.000Z'),
          last_updated_at: new Date('2024-04-16T07:48:21.000Z'),
          statements: [
            {
              statement_id: '567700a6-570d-4f75-ae60-d79357dabdb4',
              statement_status: 'completed',
              error_code: null,
              error_message: null,
              source: 'pdf',
              statement_date_range: { from_date: null, to_date: null },
              created_at: new Date('2024-04-16T07:47:40.806Z'),
            },
          ],
        },
      ],
    });
  });

  it('normalises "IN PROGRESS", DD/MM/YYYY and YYYY-MM-DD dates, "+00:00" timestamps and the expiry', () => {
    const result = sut(fixture('upload-status-unmasked'));
    expect(result.upload_status).toBe('IN_PROGRESS');
    expect(result.session_date_range).toEqual({ from_date: '2025-08-11', to_date: '2025-11-11' });
    expect(result.expires_at).toEqual(new Date('2025-11-13T07:48:34.000Z'));
    const [account] = result.accounts;
    expect(account.account_number).toBe('924010040573135');
    expect(account.months).toEqual(['2025-08', '2025-09', '2025-10', '2025-11']);
    expect(account.missing_data).toEqual([{ from_date: '2025-11-03', to_date: '2025-11-11' }]);
    expect(account.statements[0].statement_date_range).toEqual({ from_date: '2025-08-11', to_date: '2025-11-10' });
    expect(account.statements[0].created_at).toEqual(new Date('2025-11-13T06:48:43.660Z'));
    expect(account.statements[0].error_code).toBeNull();
  });

  it.each(['IN PROGRESS', 'in_progress', 'In-Progress', 'IN_PROGRESS'])('reads upload_status %j as IN_PROGRESS', (word) => {
    const body = { ...fixture('upload-status-unmasked'), upload_status: word };
    expect(sut(body).upload_status).toBe('IN_PROGRESS');
  });

  it('reads null as null and ignores unknown fields', () => {
    const body = fixture('upload-status-unmasked');
    body.session_expiry_timestamp = null;
    body.session_date_range = null;
    body.brand_new_field = { nested: [1, 2, 3] };
    body.accounts[0].account_number = null;
    body.accounts[0].ifsc = 'UTIB0000001';
    body.accounts[0].statements[0].error_message = null;
    body.accounts[0].statements[0].page_count = 12;
    const result = sut(body);
    expect(result.expires_at).toBeNull();
    expect(result.session_date_range).toBeNull();
    expect(result.accounts[0].account_number).toBeNull();
    expect(result.accounts[0].statements[0].error_message).toBeNull();
    expect(result).not.toHaveProperty('brand_new_field');
    expect(result.accounts[0]).not.toHaveProperty('ifsc');
    expect(result.accounts[0].statements[0]).not.toHaveProperty('page_count');
  });

  it('lowercases the session id', () => {
    const body = { ...fixture('upload-status-unmasked'), session_id: '136B1AA3-4610-4D0A-89F3-03078A2FCE92' };
    expect(sut(body).session_id).toBe('136b1aa3-4610-4d0a-89f3-03078a2fce92');
  });

  it('rejects an unknown upload status, naming the field', () => {
    const error = payloadError(() => sut({ ...fixture('upload-status-unmasked'), upload_status: 'HALF_DONE' }));
    expect(error.details).toEqual([{ field: 'upload_status', problem: expect.any(String) }]);
  });

  it('rejects impossible dates, naming the field', () => {
    const body = fixture('upload-status-unmasked');
    body.session_date_range.from_date = '31/02/2024';
    body.accounts[0].missing_data[0].to_date = '2024-13-01';
    const error = payloadError(() => sut(body));
    expect(error.details.map((detail) => detail.field)).toEqual([
      'session_date_range.from_date',
      'accounts[0].missing_data[0].to_date',
    ]);
    expect(error.message).toContain('session_date_range.from_date');
    expect(error.message).toContain('accounts[0].missing_data[0].to_date');
  });

  it('lists every bad field with its path', () => {
    const body = fixture('upload-status-unmasked');
    body.session_id = 'not-a-uuid';
    delete body.upload_status;
    body.session_expiry_timestamp = '2025-11-31 07:48:34';
    body.accounts[0].created_at = 'yesterday';
    body.accounts[0].months = ['2025-8', '2025-09'];
    body.accounts[0].statements[0].created_at = '13/11/2025 06:48:43';
    body.accounts[0].statements[0].statement_date_range.to_date = '32/11/2025';
    body.accounts.push({ account_id: '', statements: [{ statement_id: 7 }] });
    const error = payloadError(() => sut(body));
    expect(error.details.map((detail) => detail.field).sort()).toEqual(
      [
        'session_id',
        'upload_status',
        'session_expiry_timestamp',
        'accounts[0].created_at',
        'accounts[0].months[0]',
        'accounts[0].statements[0].created_at',
        'accounts[0].statements[0].statement_date_range.to_date',
        'accounts[1].account_id',
        'accounts[1].statements[0].statement_id',
      ].sort(),
    );
    for (const detail of error.details) expect(detail.problem).toEqual(expect.any(String));
  });

  it('rejects a body that is not an object', () => {
    for (const body of [null, 'COMPLETED', [], 42]) {
      expect(payloadError(() => sut(body)).details).toEqual([{ field: 'body', problem: 'must be a JSON object' }]);
    }
  });

  it('never puts the account number in an error', () => {
    const accountNumber = '924010040573135';
    const body = fixture('upload-status-unmasked');
    body.accounts[0].created_at = accountNumber; // a bad value in another field
    body.accounts[0].statements[0].created_at = `${accountNumber} 10:00:00`;
    body.accounts.push({ ...structuredClone(body.accounts[0]), account_number: Number(accountNumber) });
    body.accounts.push({ ...structuredClone(body.accounts[0]), account_number: accountNumber.repeat(5) });
    const error = payloadError(() => sut(body));
    expect(error.details.map((detail) => detail.field)).toEqual(
      expect.arrayContaining(['accounts[0].created_at', 'accounts[1].account_number', 'accounts[2].account_number']),
    );
    expect(error.message).not.toContain(accountNumber);
    expect(JSON.stringify(error.details)).not.toContain(accountNumber);
    expect(error.message).not.toContain('4010040573');
  });
});

describe('parseWebhook', () => {
  const sut = parseWebhook;

  it('reads the documented completion', () => {
    const event = sut(fixture('completion-documented'));
    expect(event).toEqual({
      kind: 'completion',
      session_id: '409ed817-b824-4818-a7f7-dc532ce0d8fc',
      event_name: 'SESSION_REQUIREMENT_COMPLETION_NOTIFICATION',
      session_date_range: { from_date: '2023-10-25', to_date: '2024-04-25' },
      accounts: [
        {
          account_id: '814d062e-1c36-409f-9f9c-acb32e7984b0',
          account_number: '5413699704',
          bank_name: 'kotak',
          account_status: 'PARTIAL',
          months: ['2023-10', '2023-11', '2023-12', '2024-01', '2024-02', '2024-03', '2024-04'],
          missing_data: null,
          created_at: new Date('2024-04-26T12:25:57.000Z'),
          last_updated_at: new Date('2024-04-26T12:26:27.000Z'),
          statements: [
            {
              statement_id: 'fe49d6a6-1c0e-4e6d-911a-c38b6a4f0d04',
              statement_status: 'completed',
              error_code: null,
              error_message: null,
              source: 'pdf',
              statement_date_range: { from_date: null, to_date: null },
              created_at: new Date('2024-04-26T12:25:56.172Z'),
            },
          ],
        },
      ],
    });
  });

  it('reads the current completion: masked number, extra fields ignored, empty missing_data', () => {
    const event = sut(fixture('completion-masked'));
    if (event.kind !== 'completion') throw new Error(`unexpected kind ${event.kind}`);
    const [account] = event.accounts;
    expect(account.account_number).toBe('XXXXXXXXXXXX3135');
    expect(account.missing_data).toEqual([]);
    expect(account.statements[0]).not.toHaveProperty('upload_file_name');
    expect(account.statements[0].statement_date_range).toEqual({ from_date: '2025-08-11', to_date: '2025-11-10' });
    expect(account.statements[0].created_at).toEqual(new Date('2025-11-13T06:48:43.660Z'));
    expect(event.session_date_range).toEqual({ from_date: '2025-08-11', to_date: '2025-11-11' });
  });

  it('reads the old event name SESSION_COMPLETION_NOTIFICATION as a completion', () => {
    const event = sut(fixture('completion-old-name'));
    expect(event).toMatchObject({
      kind: 'completion',
      event_name: 'SESSION_COMPLETION_NOTIFICATION',
      session_id: '409ed817-b824-4818-a7f7-dc532ce0d8fc',
    });
    expect(event).toEqual({ ...sut(fixture('completion-documented')), event_name: 'SESSION_COMPLETION_NOTIFICATION' });
  });

  it('reads the expiry', () => {
    const event = sut(fixture('expiry'));
    expect(event).toMatchObject({
      kind: 'expiry',
      event_name: 'SESSION_EXPIRY_NOTIFICATION',
      session_id: '136b1aa3-4610-4d0a-89f3-03078a2fce92',
      accounts: [{ account_id: 'd35b9df1-871d-43d1-b6c1-67ded2c2e8e5', account_status: 'PARTIAL' }],
    });
  });

  it('reads a successful enrichment: "" to null', () => {
    expect(sut(fixture('enrichment-success'))).toEqual({
      kind: 'enrichment',
      session_id: 'c282b2cd-9f87-4ba9-9f73-964bdbd1263b',
      event_name: 'ENRICHMENT_NOTIFICATION',
      enrichment: {
        insights_available: true,
        accounts: [{ account_id: '64d79813-d882-4c15-9ced-383e463678f8', status: 'completed', error_code: null, error_message: null }],
      },
    });
  });

  it('reads a failed enrichment', () => {
    expect(sut(fixture('enrichment-failed'))).toEqual({
      kind: 'enrichment',
      session_id: 'c282b2cd-9f87-4ba9-9f73-964bdbd1263b',
      event_name: 'ENRICHMENT_NOTIFICATION',
      enrichment: {
        insights_available: false,
        accounts: [
          {
            account_id: '64d79813-d882-4c15-9ced-383e463678f8',
            status: 'failed',
            error_code: 'UNPARSABLE',
            error_message: 'Failed to process because of an unparsable statement',
          },
        ],
      },
    });
  });

  it('reads an unknown event as kind "unknown", keeping its session', () => {
    const body = { session_id: '409ED817-B824-4818-A7F7-DC532CE0D8FC', event_name: 'SESSION_PROCESSING_STARTED', whatever: [1] };
    expect(sut(body)).toEqual({
      kind: 'unknown',
      session_id: '409ed817-b824-4818-a7f7-dc532ce0d8fc',
      event_name: 'SESSION_PROCESSING_STARTED',
    });
  });

  it('reads event names tolerantly', () => {
    const body = { ...fixture('expiry'), event_name: 'session expiry notification' };
    expect(sut(body)).toMatchObject({ kind: 'expiry', event_name: 'SESSION_EXPIRY_NOTIFICATION' });
  });

  it('requires a session id and an event name', () => {
    const error = payloadError(() => sut({ accounts: [] }));
    expect(error.details.map((detail) => detail.field).sort()).toEqual(['event_name', 'session_id']);
  });

  it('lists every bad field of a completion with its path', () => {
    const body = fixture('completion-masked');
    body.accounts[0].statements[0].created_at = '2025-11-13 25:48:43';
    body.accounts[0].last_updated_at = '';
    body.accounts[0].created_at = 1763016524;
    body.accounts[0].statements[0].statement_date_range.from_date = '31/02/2024';
    body.session_date_range.to_date = '2024-13-01';
    body.accounts[0].missing_data = 'none';
    const error = payloadError(() => sut(body));
    expect(error.details.map((detail) => detail.field).sort()).toEqual(
      [
        'accounts[0].created_at',
        'accounts[0].missing_data',
        'accounts[0].statements[0].created_at',
        'accounts[0].statements[0].statement_date_range.from_date',
        'session_date_range.to_date',
      ].sort(),
    );
    expect(error.message).toContain('accounts[0].statements[0].created_at');
  });

  it('requires insights_available on an enrichment', () => {
    const body = fixture('enrichment-success');
    delete body.insights_available;
    body.accounts[0].account_id = null;
    const error = payloadError(() => sut(body));
    expect(error.details.map((detail) => detail.field).sort()).toEqual(['accounts[0].account_id', 'insights_available']);
  });

  it('never puts the account number in an error', () => {
    const accountNumber = '924010040573135';
    const body = fixture('completion-masked');
    body.accounts[0].account_number = accountNumber.padEnd(80, '7');
    body.accounts[0].bank_name = { number: accountNumber };
    body.accounts[0].created_at = accountNumber;
    const error = payloadError(() => sut(body));
    expect(error.details).toHaveLength(3);
    expect(error.message).not.toContain(accountNumber);
    expect(JSON.stringify(error.details)).not.toContain(accountNumber);
  });
});

describe('sessionIdOf', () => {
  it('finds a usable session id in an otherwise invalid payload', () => {
    expect(sessionIdOf({ session_id: ' 409ED817-B824-4818-A7F7-DC532CE0D8FC ', event_name: 7 })).toBe(
      '409ed817-b824-4818-a7f7-dc532ce0d8fc',
    );
    for (const body of [null, 'x', {}, { session_id: 'nope' }, { session_id: 42 }]) expect(sessionIdOf(body)).toBeNull();
  });
});

describe('maskAccountNumber', () => {
  it('keeps only the last 4 characters', () => {
    expect(maskAccountNumber('924010040573135')).toBe('***********3135');
    expect(maskAccountNumber('1234')).toBe('****');
    expect(maskAccountNumber('')).toBeNull();
    expect(maskAccountNumber(null)).toBeNull();
  });
});
