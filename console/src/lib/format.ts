import { signal } from '@preact/signals';
import { language, t } from '../i18n/index.ts';

/** One clock for every countdown on the page (one timer, not one per row). */
export const now = signal(Date.now());
setInterval(() => (now.value = Date.now()), 1000);

export function duration(ms: number | null | undefined): string {
  if (ms === null || ms === undefined) return t('common.none');
  if (ms < 1000) return `${Math.round(ms)} ms`;
  const s = ms / 1000;
  if (s < 60) return `${s.toFixed(s < 10 ? 1 : 0)} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min ${Math.round(s % 60)} s`;
  const h = Math.floor(m / 60);
  if (h < 48) return `${h} h ${m % 60} min`;
  return `${Math.floor(h / 24)} d ${h % 24} h`;
}

/** "in 3 min 2 s" / "5 s ago", against the shared clock. */
export function relative(iso: string | null | undefined): string {
  if (!iso) return t('common.none');
  const diff = Date.parse(iso) - now.value;
  if (Math.abs(diff) < 1000) return t('common.now');
  return diff > 0 ? t('common.in', { time: duration(diff) }) : t('common.ago', { time: duration(-diff) });
}

/** A date and time in the reader's language, in the browser's time zone or the one given. */
export function dateTime(iso: string | null | undefined, timeZone?: string): string {
  if (!iso) return t('common.none');
  return new Date(iso).toLocaleString(language.value === 'zh' ? 'zh-CN' : 'en-GB', { dateStyle: 'short', timeStyle: 'medium', ...(timeZone ? { timeZone } : {}) });
}
