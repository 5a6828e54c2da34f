/**
 * The date formats FinBox uses, all in UTC (see the "Formats" table in
 * finbox-facts.md). `micros` is the three extra digits FinBox prints after
 * the milliseconds.
 */

const DAY_MS = 86_400_000;

function pad(value: number, width = 2): string {
  return String(value).padStart(width, '0');
}

/** 'YYYY-MM-DD' */
export function ymd(ms: number): string {
  return new Date(ms).toISOString().slice(0, 10);
}

/** 'YYYY-MM' */
export function ym(ms: number): string {
  return new Date(ms).toISOString().slice(0, 7);
}

/** 'DD/MM/YYYY' */
export function dmy(ms: number): string {
  const [year, month, day] = ymd(ms).split('-');
  return `${day}/${month}/${year}`;
}

/** 'YYYY-MM-DD HH:MM:SS' (UTC, no zone) */
export function plainDateTime(ms: number): string {
  return new Date(ms).toISOString().slice(0, 19).replace('T', ' ');
}

/** 'YYYY-MM-DDTHH:MM:SS.ffffffZ' */
export function isoMicros(ms: number, micros: number): string {
  return `${new Date(ms).toISOString().slice(0, 23)}${pad(micros, 3)}Z`;
}

/** 'YYYY-MM-DD HH:MM:SS.ffffff+00:00' */
export function offsetMicros(ms: number, micros: number): string {
  return `${new Date(ms).toISOString().slice(0, 23).replace('T', ' ')}${pad(micros, 3)}+00:00`;
}

export function addDays(ms: number, days: number): number {
  return ms + days * DAY_MS;
}

export function addMonths(ms: number, months: number): number {
  const date = new Date(ms);
  date.setUTCMonth(date.getUTCMonth() + months);
  return date.getTime();
}

/** Every 'YYYY-MM' from the month of `fromMs` to the month of `toMs`, inclusive. */
export function monthsBetween(fromMs: number, toMs: number): string[] {
  const months: string[] = [];
  const last = ym(toMs);
  const cursor = new Date(fromMs);
  cursor.setUTCDate(1);
  while (ym(cursor.getTime()) <= last) {
    months.push(ym(cursor.getTime()));
    cursor.setUTCMonth(cursor.getUTCMonth() + 1);
  }
  return months;
}
